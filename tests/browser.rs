//! The browser console in a real headless Chromium against one real chatd: two tabs are two
//! users who chat (a third connects with a pasted token). Each step asserts what each page
//! shows. Screenshots of both chat pages are kept under `target/tmp/browser-console/`.

mod common;

use std::path::PathBuf;

use common::chromium::{Chromium, Page};
use common::spawn_app;
use serde_json::json;

fn artefacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-console")
}

/// Waits until `page` has an element matching `selector` whose trimmed text passes `test`
/// (a JavaScript function of the text).
async fn wait_for_text(browser: &mut Chromium, page: &Page, selector: &str, test: &str) {
    let condition = format!(
        "[...document.querySelectorAll({})].some(e => ({test})(e.textContent.trim()))",
        json!(selector)
    );
    let what = format!("{selector} with a text that passes {test}");
    browser.wait_until(page, &condition, &what).await;
}

/// Waits until `page` has an element matching `selector` whose text is exactly `text`.
async fn shows(browser: &mut Chromium, page: &Page, selector: &str, text: &str) {
    let test = format!("t => t === {}", json!(text));
    wait_for_text(browser, page, selector, &test).await;
}

/// Waits until `page` has an element matching `selector` whose text contains `text`.
async fn mentions(browser: &mut Chromium, page: &Page, selector: &str, text: &str) {
    let test = format!("t => t.includes({})", json!(text));
    wait_for_text(browser, page, selector, &test).await;
}

async fn send(browser: &mut Chromium, page: &Page, text: &str) {
    browser.type_into(page, "#message-input", text).await;
    browser.press_enter(page).await;
}

/// Bob types without sending until alice's page says so. He keeps typing (his console sends
/// `message.typing` at most every two seconds) so that the indicator, which fades after a few
/// seconds, stays up however slowly this machine polls.
async fn bob_types_until_alice_sees_it(browser: &mut Chromium, alice: &Page, bob: &Page) {
    let shown = "document.getElementById('typing').textContent === 'bob is typing…'";
    let started = std::time::Instant::now();
    let mut draft = String::new();
    loop {
        draft.push('x');
        browser.type_into(bob, "#message-input", &draft).await;
        if browser.eval(alice, shown).await == json!(true) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "alice never saw bob typing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_users_chat_through_the_console_in_chromium() {
    let Some(mut browser) = Chromium::launch(&artefacts()).await else {
        return;
    };
    let app = spawn_app().await;
    let url = format!("http://127.0.0.1:{}/", app.port);
    let alice = browser.open("alice", &url).await;
    let bob = browser.open("bob", &url).await;
    let both = [&alice, &bob];

    // The newcomer's path: both tabs suggest the next user (alice, then bob); just press Start.
    assert_eq!(
        browser
            .eval(&alice, "document.getElementById('dev-username').value")
            .await,
        "alice"
    );
    browser.click(&alice, "#dev-mint").await;
    shows(&mut browser, &alice, "#status", "connected as alice (#1)").await;
    let suggests_bob = "document.getElementById('dev-username').value === 'bob'";
    browser
        .wait_until(&bob, suggests_bob, "bob's tab to suggest bob")
        .await;
    browser.click(&bob, "#dev-mint").await;
    shows(&mut browser, &bob, "#status", "connected as bob (#2)").await;

    // With a real secret the console takes a token from the application instead.
    let carol = browser.open("carol", &url).await;
    browser
        .type_into(&carol, "#token-input", &app.token(3))
        .await;
    browser.click(&carol, "#token-connect").await;
    shows(&mut browser, &carol, "#status", "connected as user3 (#3)").await;

    // Alice opens a one-to-one chat with bob: it opens on her page, and bob opens it on his.
    browser.type_into(&alice, "#create-members", "2").await;
    browser.click(&alice, "#create-submit").await;
    shows(&mut browser, &alice, "#room-title", "bob").await;
    shows(&mut browser, &bob, "#room-list .room-name", "alice").await;
    browser.click(&bob, "#room-list li").await;
    shows(&mut browser, &bob, "#room-title", "alice").await;

    // Bob starts typing; alice sees it.
    bob_types_until_alice_sees_it(&mut browser, &alice, &bob).await;

    // Alice says hello; both pages show it, rendered as sanitised HTML.
    let hello = "Hello from Alice, <b>in bold</b><script>x()</script>";
    send(&mut browser, &alice, hello).await;
    for page in both {
        shows(
            &mut browser,
            page,
            "#messages .content",
            "Hello from Alice, in bold",
        )
        .await;
        assert_eq!(
            browser.texts(page, "#messages .content b").await,
            ["in bold"]
        );
        assert!(browser.texts(page, "#messages script").await.is_empty());
    }
    // Bob's console acknowledged and read it (his room is open): alice sees both.
    mentions(
        &mut browser,
        &alice,
        "#messages .state",
        "✓✓ delivered to bob",
    )
    .await;
    mentions(&mut browser, &alice, "#messages .state", "read by bob").await;

    // A receipt re-renders the message it is about, and a click between two renders of it is
    // lost (the button under the pointer is replaced between press and release): bob's page
    // has seen its own read receipt, the last of them, before he clicks.
    mentions(&mut browser, &bob, "#messages .state", "read by bob").await;

    // Bob replies to it; both pages show the reply with its quote.
    browser.click(&bob, "#messages .reply-button").await;
    mentions(&mut browser, &bob, "#reply-text", "Replying to alice").await;
    send(&mut browser, &bob, "Hi Alice!").await;
    for page in both {
        shows(&mut browser, page, "#messages .content", "Hi Alice!").await;
        let quote = "alice: Hello from Alice, in bold";
        shows(&mut browser, page, "#messages .quote", quote).await;
    }

    // Alice reacts to the reply once her page has rendered her own read receipt for it (see
    // above); both pages show the reaction.
    mentions(
        &mut browser,
        &alice,
        "#messages li:not(.mine) .state",
        "read by alice",
    )
    .await;
    let thumbs_up = "#messages li:not(.mine) .react-button[data-emoji='👍']";
    browser.click(&alice, thumbs_up).await;
    for page in both {
        shows(&mut browser, page, "#messages .reaction", "👍 1").await;
    }

    // Messages that did not change keep their elements when the list is rendered again (a
    // click on them is never lost to a re-render): alice's first message is the same element
    // after two more messages and a reaction.
    let first = "document.querySelector('#messages li.mine')";
    browser.eval(&alice, &format!("{first}.kept = true")).await;

    // A refused event is shown, and the chat goes on: the pair already has a chat.
    browser.click(&alice, "#create-submit").await;
    let refused = "room.create failed: 4003 ['Chat already exists']";
    shows(&mut browser, &alice, "#notices .notice span", refused).await;
    send(&mut browser, &alice, "Still here").await;
    for page in both {
        shows(&mut browser, page, "#messages .content", "Still here").await;
    }
    assert_eq!(
        browser.texts(&bob, "#messages .content").await,
        ["Hello from Alice, in bold", "Hi Alice!", "Still here"]
    );
    assert_eq!(
        browser
            .eval(&alice, &format!("{first}.kept === true"))
            .await,
        json!(true)
    );

    // Groups and channels are created the same way and appear on both pages.
    browser
        .eval(
            &alice,
            "document.getElementById('create-type').value = 'GroupChat'; \
        document.getElementById('create-type').dispatchEvent(new Event('change'))",
        )
        .await;
    browser
        .type_into(&alice, "#create-name", "Project Team")
        .await;
    browser.type_into(&alice, "#create-members", "2").await;
    browser.click(&alice, "#create-submit").await;
    for page in both {
        shows(&mut browser, page, "#room-list .room-name", "Project Team").await;
    }
    shows(&mut browser, &alice, "#room-title", "Project Team").await;

    // The side panel shows the raw frames, both ways.
    shows(
        &mut browser,
        &alice,
        "#frames .frame.out .name",
        "message.send",
    )
    .await;
    shows(
        &mut browser,
        &alice,
        "#frames .frame.in .name",
        "message.dispatch",
    )
    .await;
    for page in both {
        let typing = "messagetyping.dispatch";
        shows(&mut browser, page, "#frames .frame.in .name", typing).await;
    }

    // Back to the conversation for the screenshots.
    browser
        .click(&alice, "#room-list li[data-type='OneToOneChat']")
        .await;
    shows(&mut browser, &alice, "#room-title", "bob").await;
    std::fs::create_dir_all(artefacts()).expect("artefact directory");
    for page in both {
        let path = artefacts().join(format!("{}.png", page.name));
        browser.screenshot(page, &path).await;
        assert_eq!(
            browser.problems(page),
            Vec::<String>::new(),
            "{}",
            page.name
        );
    }
    // Everything this console used is implemented: nothing is listed as missing.
    assert!(browser
        .texts(&alice, "#capabilities:not([hidden])")
        .await
        .is_empty());
}
