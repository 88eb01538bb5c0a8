//! `message.react`: one reaction per user and message — added, replaced, idempotent on the
//! same emoji (DECISIONS 24), removed — with the exact dispatches, their audience, the REACTION
//! notifications and every error of messages.md §9.5.

mod common;

use common::messages::{alice_and_bob, keys, not_a_uuid, recv_on_all, rows, send_to};
use common::rooms::{denied, error, internal, not_found, rule};
use common::{normalize_times, spawn_app, user_json};
use serde_json::{json, Value};

fn add(message: &Value, content: &str) -> Value {
    json!({"type": "add", "message_id": message["id"], "reaction_content": content})
}

#[tokio::test]
async fn reactions_are_added_replaced_kept_and_removed_in_front_of_the_whole_room() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let mut carol = app.user(3).await;
    let message = send_to(&mut alice, room, "hi", &mut [&mut bob, &mut alice_laptop]).await;

    // Each reaction dispatch reaches all three connections of the room, identical.
    async fn everyone_sees(
        reactor: &mut common::Client,
        data: Value,
        others: &mut [&mut common::Client],
    ) -> Value {
        reactor.emit("message.react", data).await;
        let frame = reactor.recv_dispatch("reaction.dispatch").await;
        assert_eq!(recv_on_all("reaction.dispatch", others).await, frame);
        frame
    }

    let added = everyone_sees(
        &mut bob,
        add(&message, "  👍 "),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(keys(&added), ["status", "type", "message"]);
    let reaction = added["message"]["reactions"][0].clone();
    common::assert_uuid(&reaction["id"]);
    let mut expected = message.clone();
    expected["reactions"] = json!([{"id": reaction["id"], "user": user_json(2),
        "reaction_content": "👍", "created_at": reaction["created_at"]}]);
    assert_eq!(
        added,
        json!({"status": "successful", "type": "add", "message": expected})
    );

    // The same emoji again: a success that changes nothing (DECISIONS 24).
    let again = everyone_sees(
        &mut bob,
        add(&message, "👍"),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(again, added);

    // Another emoji replaces it: a new reaction, with its own id.
    let replaced = everyone_sees(
        &mut bob,
        add(&message, "😂"),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    let reactions = replaced["message"]["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0]["reaction_content"], "😂");
    assert_ne!(reactions[0]["id"], reaction["id"]);

    // The author reacts too; reactions are in the order they were made.
    let both = everyone_sees(
        &mut alice,
        add(&message, "❤️"),
        &mut [&mut bob, &mut alice_laptop],
    )
    .await;
    let mut both_reactions = both["message"]["reactions"].clone();
    normalize_times(&mut both_reactions);
    assert_eq!(
        both_reactions,
        json!([
            {"id": reactions[0]["id"], "user": user_json(2), "reaction_content": "😂", "created_at": "<ts>"},
            {"id": both_reactions[1]["id"], "user": user_json(1), "reaction_content": "❤️", "created_at": "<ts>"}
        ])
    );

    // Removing takes the user's reaction, whatever content is sent; `action`, not `type`.
    let removed = everyone_sees(
        &mut bob,
        json!({"type": "remove", "message_id": message["id"], "reaction_content": "🙃"}),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(keys(&removed), ["status", "message", "action"]);
    let mut expected = message.clone();
    expected["reactions"] = json!([both["message"]["reactions"][1]]);
    assert_eq!(
        removed,
        json!({"status": "successful", "message": expected, "action": "remove"})
    );
    // Nothing left to remove: `failed`, still told to the whole room.
    let failed = everyone_sees(
        &mut bob,
        json!({"type": "remove", "message_id": message["id"]}),
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(
        failed,
        json!({"status": "failed", "message": expected, "action": "remove"})
    );

    carol.assert_nothing_pending().await;
    let db = app.db().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 1);
}

#[tokio::test]
async fn a_reaction_notifies_every_member_but_the_reactor_and_outlives_its_removal() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let message = send_to(&mut alice, room, "hi", &mut [&mut bob]).await;
    bob.emit("message.acknowledged", json!({"message_id": message["id"]}))
        .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    alice.close().await;

    for data in [
        add(&message, "👍"),
        // Unchanged: no second notification.
        add(&message, "👍"),
        // Replaced: a new one.
        add(&message, "😂"),
        // Removal keeps them (messages.md §14.3).
        json!({"type": "remove", "message_id": message["id"]}),
    ] {
        bob.emit("message.react", data).await;
        bob.recv_dispatch("reaction.dispatch").await;
    }

    let (_alice, pending) = app.connect(1).await;
    let items = pending[room.to_string()].as_array().unwrap();
    assert_eq!(pending.as_object().unwrap().len(), 1);
    assert_eq!(items.len(), 2);
    // Each item shows the message as it is now: no reactions left.
    let mut current = message.clone();
    current["delivered_to"] = json!(["user2"]);
    for item in items {
        common::assert_uuid(&item["id"]);
        assert_eq!(
            item,
            &json!({"id": item["id"], "message": current, "notification_type": "REACTION"})
        );
    }
    let (_bob, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
}

#[tokio::test]
async fn react_answers_every_error_of_the_catalogue() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let message = send_to(&mut alice, room, "hi", &mut [&mut bob]).await;
    let id = &message["id"];
    let field = |text: &str| error(4003, json!({"reaction_content": [text]}));

    let cases = [
        (json!(null), internal()),
        (json!("x"), internal()),
        (json!({"type": "add"}), rule("Invalid message_id type")),
        (
            json!({"type": "add", "message_id": true}),
            rule("Invalid message_id type"),
        ),
        // An array passes the reference's gate and then fails; refused at once here.
        (
            json!({"type": "add", "message_id": [id], "reaction_content": "x"}),
            rule("Invalid message_id type"),
        ),
        (
            json!({"type": "add", "message_id": "abc", "reaction_content": "x"}),
            not_a_uuid("abc"),
        ),
        (
            json!({"type": "add", "message_id": uuid::Uuid::new_v4(), "reaction_content": "x"}),
            not_found(),
        ),
        (
            json!({"type": "bogus", "message_id": id}),
            rule("invalid reaction type"),
        ),
        (json!({"message_id": id}), rule("invalid reaction type")),
        (
            json!({"type": "add", "message_id": id}),
            field("This field is required."),
        ),
        (
            json!({"type": "add", "message_id": id, "reaction_content": null}),
            field("This field may not be null."),
        ),
        (
            json!({"type": "add", "message_id": id, "reaction_content": "  "}),
            field("This field may not be blank."),
        ),
        (
            json!({"type": "add", "message_id": id, "reaction_content": ["👍"]}),
            field("Not a valid string."),
        ),
        (
            json!({"type": "add", "message_id": id, "reaction_content": "a\u{0}"}),
            field("Null characters are not allowed."),
        ),
        (
            json!({"type": "add", "message_id": id, "reaction_content": "x".repeat(129)}),
            field("Ensure this field has no more than 128 characters."),
        ),
    ];
    for (data, frame) in cases {
        bob.refused("message.react", data, frame).await;
    }
    // Not a member: refused before the type is even looked at.
    for data in [
        add(&message, "👀"),
        json!({"type": "bogus", "message_id": id}),
    ] {
        carol
            .refused(
                "message.react",
                data,
                denied("User is not authorized to access this message"),
            )
            .await;
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
    // 128 characters (not bytes) is the limit.
    bob.emit("message.react", add(&message, &"👍".repeat(128)))
        .await;
    bob.recv_dispatch("reaction.dispatch").await;
}

#[tokio::test]
async fn the_same_reaction_from_two_devices_at_once_is_stored_once() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut bob_tablet = app.user(2).await;
    let message = send_to(&mut alice, room, "hi", &mut [&mut bob, &mut bob_tablet]).await;

    bob.emit("message.react", add(&message, "🎉")).await;
    bob_tablet.emit("message.react", add(&message, "🎉")).await;
    // Both succeed (the second changes nothing); every connection hears both.
    for client in [&mut bob, &mut bob_tablet, &mut alice] {
        for _ in 0..2 {
            let frame = client.recv_dispatch("reaction.dispatch").await;
            assert_eq!(frame["status"], "successful");
            assert_eq!(frame["message"]["reactions"].as_array().unwrap().len(), 1);
        }
    }
    let db = app.db().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 1);
}
