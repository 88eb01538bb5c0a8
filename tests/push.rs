//! Push for offline recipients through the signed webhook (docs/push.md), against a real HTTP
//! receiver started by each test: what is sent and to whom, the signature, retries, and that
//! message delivery never waits for the receiver.

mod common;

use std::sync::atomic::AtomicU64;

use chatd::notifications::NotificationStats;
use common::messages::{react_to, send_to};
use common::receiver::{Answer, Received, Receiver};
use common::rooms::create_group;
use common::{spawn_app_with, user_json, Client, TestApp};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

const SECRET: &str = "test-webhook-secret";

async fn app_pushing_to(receiver: &Receiver, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("push.webhook_url", receiver.url.as_str()),
        ("push.webhook_secret", SECRET),
        ("push.backoff_initial", "0.05"),
        ("push.backoff_max", "0.2"),
    ];
    settings.extend_from_slice(extra);
    spawn_app_with(&settings).await
}

/// Alice (1) and Bob (2) connected, Carol (3) known but offline, in a group "Team".
async fn team_with_carol_offline(app: &TestApp) -> (Client, Client, Uuid) {
    let [mut alice, mut bob, carol] = app.users([1, 2, 3]).await;
    carol.close().await;
    let room = create_group(&mut alice, &[2, 3], &mut [&mut bob]).await;
    let presence = app.state().presence.clone();
    app.eventually("carol has no open connection", || {
        let offline = presence.offline_among(&[3]);
        async move { offline == [3] }
    })
    .await;
    (alice, bob, room)
}

/// The receiver's own check of `X-Chatd-Signature` (independent of chatd's code).
fn assert_signed(received: &Received) {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&received.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(received.signature.as_deref(), Some(expected.as_str()));
    assert_eq!(received.content_type.as_deref(), Some("application/json"));
}

fn stat(app: &TestApp, counter: impl Fn(&NotificationStats) -> &AtomicU64) -> u64 {
    NotificationStats::get(counter(&app.state().notification_stats))
}

#[tokio::test]
async fn a_message_is_pushed_signed_to_the_webhook_for_its_offline_recipients_only() {
    let mut receiver = Receiver::start(&[]);
    let app = app_pushing_to(&receiver, &[]).await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;

    let sent = send_to(
        &mut alice,
        room,
        "Hello <b>team</b> &amp; friends",
        &mut [&mut bob],
    )
    .await;
    let push = receiver.next().await;
    assert_signed(&push);
    let payload = push.json();
    assert_eq!(
        push.delivery.as_deref(),
        payload["delivery_id"].as_str(),
        "the delivery id is in the header and the body"
    );
    common::assert_uuid(&payload["delivery_id"]);
    common::assert_uuid(&payload["notification_id"]);
    assert_eq!(
        payload,
        json!({
            "delivery_id": payload["delivery_id"],
            "notification_id": payload["notification_id"],
            "notification_type": "NEW_MESSAGE",
            "room": {"id": room, "name": "Team", "type": "GroupChat"},
            "message_id": sent["id"],
            "sender": user_json(1),
            "reaction": null,
            "preview": "Hello team & friends",
            "recipients": [3],
            "created_at": sent["created_at"],
        })
    );
    // It is the notification Carol will find when she connects.
    let (_carol, pending) = app.connect(3).await;
    assert_eq!(
        pending[room.to_string()][0]["id"],
        payload["notification_id"]
    );

    // A reaction is pushed too; Bob, online, is not listed; Alice reacted.
    react_to(&mut alice, &sent, "👍", &mut [&mut bob]).await;
    bob.assert_nothing_pending().await;
    // Carol is online now: nobody is offline, so nothing is pushed. The next push is Bob's
    // reply after he goes offline.
    bob.close().await;
    let presence = app.state().presence.clone();
    app.eventually("bob has no open connection", || {
        let offline = presence.offline_among(&[2]);
        async move { offline == [2] }
    })
    .await;
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": "and you?",
                   "extra_fields": {"parent_message_id": sent["id"]}}),
        )
        .await;
    let reply = alice.recv_dispatch("message.dispatch").await;
    let push = receiver.next().await;
    assert_signed(&push);
    let payload = push.json();
    assert_eq!(payload["notification_type"], "REPLY");
    assert_eq!(payload["message_id"], reply["id"]);
    assert_eq!(payload["recipients"], json!([2]));
    app.eventually("both pushes are counted as delivered", || {
        let delivered = stat(&app, |s| &s.push_delivered);
        async move { delivered == 2 }
    })
    .await;
}

#[tokio::test]
async fn a_reaction_is_pushed_with_its_emoji_and_the_reactor_as_sender() {
    let mut receiver = Receiver::start(&[]);
    let app = app_pushing_to(&receiver, &[]).await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let room = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    let sent = send_to(&mut alice, room, "vote", &mut [&mut bob]).await;
    alice.close().await;
    let presence = app.state().presence.clone();
    app.eventually("alice has no open connection", || {
        let offline = presence.offline_among(&[1]);
        async move { offline == [1] }
    })
    .await;

    bob.emit(
        "message.react",
        json!({"type": "add", "message_id": sent["id"], "reaction_content": "🎉"}),
    )
    .await;
    bob.recv_dispatch("reaction.dispatch").await;
    let push = receiver.next().await;
    assert_signed(&push);
    let payload = push.json();
    assert_eq!(payload["notification_type"], "REACTION");
    assert_eq!(payload["message_id"], sent["id"]);
    assert_eq!(payload["sender"], user_json(2));
    assert_eq!(payload["reaction"], "🎉");
    assert_eq!(payload["preview"], "vote");
    assert_eq!(payload["recipients"], json!([1]));
}

#[tokio::test]
async fn a_push_answered_with_500_is_retried_with_the_same_body_and_delivery_id() {
    let mut receiver = Receiver::start(&[Answer::Status(500), Answer::Status(503)]);
    let app = app_pushing_to(&receiver, &[]).await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;
    send_to(&mut alice, room, "are you there?", &mut [&mut bob]).await;

    let first = receiver.next().await;
    let second = receiver.next().await;
    let third = receiver.next().await;
    for attempt in [&first, &second, &third] {
        assert_signed(attempt);
        assert_eq!(attempt.body, first.body);
        assert_eq!(attempt.delivery, first.delivery);
    }
    app.eventually("the third attempt is counted as delivered", || {
        let delivered = stat(&app, |s| &s.push_delivered);
        async move { delivered == 1 }
    })
    .await;
    assert_eq!(stat(&app, |s| &s.push_attempts), 3);
    assert_eq!(stat(&app, |s| &s.push_failed), 0);
    // Operators see the same counts in /metrics.
    let scrape = app.scrape().await;
    assert_eq!(scrape.value("chatd_push_queued_total"), 1.0);
    assert_eq!(scrape.value("chatd_push_attempts_total"), 3.0);
    assert_eq!(scrape.value("chatd_push_delivered_total"), 1.0);
    assert_eq!(scrape.value("chatd_push_failed_total"), 0.0);
    assert!(scrape.has("chatd_push_dropped_total"));
    assert!(scrape.has("chatd_notification_notices_dropped_total"));
}

#[tokio::test]
async fn a_push_answered_with_a_4xx_is_not_retried() {
    let mut receiver = Receiver::start(&[Answer::Status(410)]);
    let app = app_pushing_to(&receiver, &[]).await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;
    let refused = send_to(&mut alice, room, "one", &mut [&mut bob]).await;
    let next = send_to(&mut alice, room, "two", &mut [&mut bob]).await;

    // Pushes go out one at a time in order: had the first been retried, its retry would come
    // before the second message's push.
    assert_eq!(receiver.next().await.json()["message_id"], refused["id"]);
    assert_eq!(receiver.next().await.json()["message_id"], next["id"]);
    assert_eq!(stat(&app, |s| &s.push_failed), 1);
    assert_eq!(stat(&app, |s| &s.push_attempts), 2);
}

#[tokio::test]
async fn messages_are_delivered_at_once_while_the_receiver_hangs_and_excess_pushes_are_dropped() {
    let mut receiver = Receiver::start(&[Answer::Hang; 4]);
    let app = app_pushing_to(
        &receiver,
        &[("push.timeout", "30"), ("push.queue_size", "2")],
    )
    .await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;

    // The receiver holds the first push for longer than this test takes: the queue fills,
    // and every message is still stored and delivered to everyone online.
    for i in 0..10 {
        send_to(&mut alice, room, &format!("message {i}"), &mut [&mut bob]).await;
    }
    receiver.next().await;
    app.eventually("every push is either queued or dropped", || {
        let handled = stat(&app, |s| &s.push_queued) + stat(&app, |s| &s.push_dropped);
        async move { handled == 10 }
    })
    .await;
    assert!(stat(&app, |s| &s.push_dropped) >= 7, "a full queue drops");
    let (_carol, pending) = app.connect(3).await;
    assert_eq!(pending[room.to_string()].as_array().unwrap().len(), 10);
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn messages_are_delivered_while_the_receiver_is_down_and_pushes_are_retried() {
    // A port nobody listens on.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", down.local_addr().unwrap());
    drop(down);
    let app = spawn_app_with(&[
        ("push.webhook_url", url.as_str()),
        ("push.webhook_secret", SECRET),
        ("push.backoff_initial", "0.01"),
        ("push.backoff_max", "0.02"),
        ("push.max_attempts", "3"),
    ])
    .await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;
    send_to(&mut alice, room, "anyone?", &mut [&mut bob]).await;
    app.eventually("the push is given up after three attempts", || {
        let failed = stat(&app, |s| &s.push_failed);
        async move { failed == 1 }
    })
    .await;
    assert_eq!(stat(&app, |s| &s.push_attempts), 3);
    send_to(&mut alice, room, "still here", &mut [&mut bob]).await;
}

#[tokio::test]
async fn nothing_is_pushed_when_every_recipient_is_online_or_no_webhook_is_set() {
    let mut receiver = Receiver::start(&[]);
    let app = app_pushing_to(&receiver, &[]).await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let room = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    send_to(&mut alice, room, "all here", &mut [&mut bob, &mut carol]).await;
    carol.close().await;
    let presence = app.state().presence.clone();
    app.eventually("carol has no open connection", || {
        let offline = presence.offline_among(&[3]);
        async move { offline == [3] }
    })
    .await;
    let marker = send_to(&mut alice, room, "carol left", &mut [&mut bob]).await;
    // The first push the receiver sees is the one for the message Carol missed.
    assert_eq!(receiver.next().await.json()["message_id"], marker["id"]);

    let quiet = spawn_app_with(&[]).await;
    let [mut alice, mut bob, carol] = quiet.users([1, 2, 3]).await;
    carol.close().await;
    let room = create_group(&mut alice, &[2, 3], &mut [&mut bob]).await;
    send_to(&mut alice, room, "no webhook", &mut [&mut bob]).await;
    assert_eq!(stat(&quiet, |s| &s.push_queued), 0);
    assert_eq!(stat(&quiet, |s| &s.notices_dropped), 0);
}

/// The verification examples of docs/push.md, run as written against a push chatd sent.
#[tokio::test]
async fn the_verification_examples_of_the_push_guide_accept_a_real_push_and_refuse_a_forged_one() {
    let mut receiver = Receiver::start(&[]);
    let app = app_pushing_to(&receiver, &[]).await;
    let (mut alice, mut bob, room) = team_with_carol_offline(&app).await;
    send_to(&mut alice, room, "verify me", &mut [&mut bob]).await;
    let push = receiver.next().await;
    let signature = push.signature.clone().expect("signed");

    let guide = std::fs::read_to_string("docs/push.md").expect("docs/push.md");
    let dir = std::env::temp_dir().join(format!("chatd-push-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, &push.body).unwrap();
    let forged = dir.join("forged.json");
    let mut tampered: Value = push.json();
    tampered["recipients"] = json!([3, 4]);
    std::fs::write(&forged, tampered.to_string()).unwrap();

    let python = code_block(&guide, "python");
    let python_check = format!(
        "{python}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\n\
         print(verify_signature(sys.argv[2].encode(), body, sys.argv[3]))\n"
    );
    let script = dir.join("verify.py");
    std::fs::write(&script, python_check).unwrap();
    let run = |program: &str, script: &std::path::Path, body: &std::path::Path| {
        let out = std::process::Command::new(program)
            .arg(script)
            .arg(body)
            .arg(SECRET)
            .arg(&signature)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(out.status.success(), "{program}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(run("python3", &script, &body), "True");
    assert_eq!(run("python3", &script, &forged), "False");

    // The Node example too, where Node is installed.
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok()
    {
        let node = code_block(&guide, "javascript");
        let node_check = format!(
            "{node}\nconst body = require('fs').readFileSync(process.argv[2]);\n\
             console.log(verifySignature(process.argv[3], body, process.argv[4]));\n"
        );
        let script = dir.join("verify.js");
        std::fs::write(&script, node_check).unwrap();
        assert_eq!(run("node", &script, &body), "true");
        assert_eq!(run("node", &script, &forged), "false");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first fenced code block of `language` in `markdown`.
fn code_block(markdown: &str, language: &str) -> String {
    let fence = format!("```{language}\n");
    let start = markdown
        .find(&fence)
        .unwrap_or_else(|| panic!("no {language} block"))
        + fence.len();
    let end = markdown[start..].find("```").expect("the block ends") + start;
    markdown[start..end].to_string()
}
