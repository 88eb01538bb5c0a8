//! `message.modify`: edits and deletes (hard and soft) over real WebSockets — the dispatches
//! with their exact keys and audience, every error of messages.md §8.5, and how deleted
//! messages render afterwards in history, replies, forwards, `last_message` and notifications.

mod common;

use chatd::store::messages::find_many;
use common::messages::{
    alice_and_bob, crafted_markup, history, history_ids, keys, not_a_uuid, overgrown, react_to,
    recv_on_all, rows, send_to, send_with,
};
use common::rooms::{denied, error, internal, not_found, rule};
use common::{create_one_to_one, spawn_app, spawn_app_with, user_json};
use serde_json::{json, Value};

#[tokio::test]
async fn an_edit_reaches_every_device_in_the_room_whole_and_marked_edited() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let mut carol = app.user(3).await;
    let original = send_to(&mut alice, room, "Helo", &mut [&mut bob, &mut alice_laptop]).await;
    let reacted = react_to(
        &mut bob,
        &original,
        "👍",
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;

    alice
        .emit(
            "message.modify",
            json!({"action": "update", "message_id": original["id"],
                   "extra_fields": {"content": "  <b>Hello</b><script>alert(1)</script> "}}),
        )
        .await;
    let edited = recv_on_all(
        "messagemodification.dispatch",
        &mut [&mut alice, &mut alice_laptop, &mut bob],
    )
    .await;
    carol.assert_nothing_pending().await;

    // Only the content, `is_edited` and `updated_at` change; the reaction stays.
    assert_eq!(keys(&edited), ["status", "action", "message"]);
    let message = &edited["message"];
    assert_ne!(message["updated_at"], original["updated_at"]);
    let mut expected = original.clone();
    expected["content"] = json!("<b>Hello</b>");
    expected["is_edited"] = json!(true);
    expected["updated_at"] = message["updated_at"].clone();
    expected["reactions"] = reacted["message"]["reactions"].clone();
    assert_eq!(
        edited,
        json!({"status": "successful", "action": "update", "message": expected})
    );

    // The room's last message and its history show the edit.
    bob.emit("room.list", json!({})).await;
    let list = bob.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list[0]["last_message"], *message);
    let answer = history(&mut bob, room, None).await;
    assert_eq!(answer["data"]["messages"], json!([message]));
}

#[tokio::test]
async fn an_edit_that_sanitising_grows_beyond_six_times_the_limit_is_refused() {
    // The bound on stored content holds for edits as for new messages (docs/protocol-notes.md).
    let app = spawn_app_with(&[("limits.max_content_chars", "1000")]).await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let original = send_to(&mut alice, room, "hello", &mut [&mut bob]).await;

    alice
        .emit(
            "message.modify",
            json!({"action": "update", "message_id": original["id"],
                   "extra_fields": {"content": crafted_markup(1000)}}),
        )
        .await;
    assert_eq!(alice.recv().await, overgrown(6000));
    bob.assert_nothing_pending().await;
    let answer = history(&mut bob, room, None).await;
    assert_eq!(answer["data"]["messages"], json!([original]));
}

#[tokio::test]
async fn modify_answers_every_error_of_the_catalogue_in_order() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let ac = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let a1 = send_to(&mut alice, ab, "a1", &mut [&mut bob]).await["id"].clone();
    let a1b = send_to(&mut alice, ab, "a1b", &mut [&mut bob]).await["id"].clone();
    let b1 = send_to(&mut bob, ab, "b1", &mut [&mut alice]).await["id"].clone();
    let a2 = send_to(&mut alice, ac, "a2", &mut [&mut carol]).await["id"].clone();
    let unknown = uuid::Uuid::new_v4();

    let update = |id: Value, extra: Value| json!({"action": "update", "message_id": id, "extra_fields": extra});
    let delete = |id: Value| json!({"action": "delete", "message_id": id});
    let cases = [
        (json!(null), internal()),
        (json!([a1]), internal()),
        (json!({"action": "delete"}), rule("Invalid message_id type")),
        (delete(json!(true)), rule("Invalid message_id type")),
        (delete(json!({"id": a1})), rule("Invalid message_id type")),
        (
            delete(json!([])),
            rule("Atleast one message_id is required for modification"),
        ),
        (delete(json!("abc")), not_a_uuid("abc")),
        (delete(json!([a1, "abc"])), not_a_uuid("abc")),
        (delete(json!(unknown)), not_found()),
        (delete(json!([a1, unknown])), not_found()),
        // Several rooms is judged before authorship, over the messages checked so far.
        (
            delete(json!([a1, a2])),
            rule("All messages marked for modification must come from the same room"),
        ),
        (
            delete(json!([b1, a2])),
            denied("User is not authorized to modify this message"),
        ),
        (
            delete(json!([a1, b1])),
            denied("User is not authorized to modify this message"),
        ),
        (
            update(b1.clone(), json!({"content": "mine now"})),
            denied("User is not authorized to modify this message"),
        ),
        // The action is checked only once the gates have passed.
        (
            json!({"action": "archive", "message_id": b1}),
            denied("User is not authorized to modify this message"),
        ),
        (
            json!({"action": "archive", "message_id": a1}),
            rule("Invalid action type"),
        ),
        (json!({"message_id": a1}), rule("Invalid action type")),
        (
            json!({"action": 1, "message_id": a1}),
            rule("Invalid action type"),
        ),
        (
            update(json!([a1, a1b]), json!({"content": "x"})),
            rule("You can only update one message at a time"),
        ),
        (
            update(json!([a1, a1]), json!({"content": "x"})),
            rule("You can only update one message at a time"),
        ),
        (
            json!({"action": "update", "message_id": a1}),
            rule("'extra_fields' field should be provided for update action"),
        ),
        (
            update(a1.clone(), json!({})),
            rule("'extra_fields' field should be provided for update action"),
        ),
        (
            update(a1.clone(), json!("new text")),
            rule("'extra_fields' field should be provided for update action"),
        ),
        (
            update(a1.clone(), json!({"content": "   "})),
            error(4003, json!({"content": ["This field may not be blank."]})),
        ),
        (
            update(a1.clone(), json!({"content": null})),
            error(4003, json!({"content": ["This field may not be null."]})),
        ),
        (
            update(a1.clone(), json!({"content": ["x"]})),
            error(4003, json!({"content": ["Not a valid string."]})),
        ),
        (
            update(a1.clone(), json!({"content": "x".repeat(10_001)})),
            error(
                4003,
                json!({"content": ["Ensure this field has no more than 10000 characters."]}),
            ),
        ),
        (
            update(a1.clone(), json!({"is_edited": true})),
            rule("Content should be provided for update action"),
        ),
        (
            update(a1.clone(), json!({"content": "<script>alert(1)</script>"})),
            rule("Content should be provided for update action"),
        ),
    ];
    for (data, frame) in cases {
        alice.refused("message.modify", data, frame).await;
    }
    // Not the author, whatever the action.
    carol
        .refused(
            "message.modify",
            delete(a1.clone()),
            denied("User is not authorized to modify this message"),
        )
        .await;

    // Nothing changed and nobody was told anything.
    bob.assert_nothing_pending().await;
    carol.assert_nothing_pending().await;
    let answer = history(&mut alice, ab, None).await;
    assert_eq!(history_ids(&answer), [b1, a1b, a1.clone()]);
    assert_eq!(answer["data"]["messages"][2]["content"], "a1");
    assert_eq!(answer["data"]["messages"][2]["is_edited"], false);
}

#[tokio::test]
async fn a_hard_delete_removes_the_messages_and_everything_below_them() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let m1 = send_to(&mut alice, ab, "one", &mut [&mut bob]).await;
    let m2 = send_with(
        &mut alice,
        json!({"room_id": ab, "extra_fields": {"media": [
            {"media_url": "https://cdn.example.com/a.png", "media_type": "image",
             "mime_type": "image/png"}]}}),
        &mut [&mut bob],
    )
    .await;
    let m3 = send_to(&mut alice, ab, "three", &mut [&mut bob]).await;
    let reply = send_with(
        &mut bob,
        json!({"room_id": ab, "content": "re: one",
               "extra_fields": {"parent_message_id": m1["id"]}}),
        &mut [&mut alice],
    )
    .await;
    let forward = send_with(
        &mut bob,
        json!({"room_id": bc, "content": "Media Files",
               "extra_fields": {"forwarded_from_id": m2["id"]}}),
        &mut [&mut carol],
    )
    .await;
    react_to(&mut bob, &m1, "👍", &mut [&mut alice]).await;
    bob.emit("message.read", json!({"message_id": m1["id"]}))
        .await;
    recv_on_all("readreceipt.dispatch", &mut [&mut bob, &mut alice]).await;
    bob.emit(
        "message.acknowledged",
        json!({"message_id": [m1["id"], m2["id"]]}),
    )
    .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;

    // The ids come back exactly as sent: order, duplicates and spelling.
    let m2_upper = m2["id"].as_str().unwrap().to_uppercase();
    let echo = json!([m1["id"], m2_upper, m1["id"]]);
    alice
        .emit(
            "message.modify",
            json!({"action": "delete", "message_id": echo}),
        )
        .await;
    let deleted = alice.recv_dispatch("messagemodification.dispatch").await;
    assert_eq!(
        deleted,
        json!({"status": "successful", "action": "delete", "message_ids": echo})
    );
    assert_eq!(keys(&deleted), ["status", "action", "message_ids"]);
    assert_eq!(
        bob.recv_dispatch("messagemodification.dispatch").await,
        deleted
    );
    carol.assert_nothing_pending().await;

    // Gone from history; the reply and the forward lose their source.
    let answer = history(&mut bob, ab, None).await;
    assert_eq!(
        history_ids(&answer),
        [reply["id"].clone(), m3["id"].clone()]
    );
    assert_eq!(answer["data"]["messages"][0]["parent_message"], Value::Null);
    let answer = history(&mut carol, bc, None).await;
    let forwarded = &answer["data"]["messages"][0];
    assert_eq!(forwarded["id"], forward["id"]);
    assert_eq!(forwarded["forwarded_from"], Value::Null);
    assert_eq!(forwarded["is_forwarded"], true);

    // Their rows and everything below them are gone.
    let db = app.db().await;
    let ids = [m1["id"].clone(), m2["id"].clone()].map(|v| common::assert_uuid(&v));
    assert!(find_many(&db, &ids).await.unwrap().is_empty());
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::attachment::Entity>(&db).await, 0);
    assert_eq!(rows::<entity::message_delivery::Entity>(&db).await, 0);

    // A deleted message is not found by any message event.
    for (event, data) in [
        ("message.read", json!({"message_id": m1["id"]})),
        ("message.acknowledged", json!({"message_id": m1["id"]})),
        (
            "message.react",
            json!({"type": "add", "message_id": m1["id"], "reaction_content": "x"}),
        ),
    ] {
        bob.refused(event, data, not_found()).await;
    }
    alice
        .refused(
            "message.modify",
            json!({"action": "delete", "message_id": m1["id"]}),
            not_found(),
        )
        .await;
}

#[tokio::test]
async fn hard_deleting_the_newest_message_makes_the_one_before_it_the_last_message() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let first = send_to(&mut alice, room, "first", &mut [&mut bob]).await;
    let second = send_to(&mut alice, room, "second", &mut [&mut bob]).await;
    let last_message = |list: &Value| list[0]["last_message"].clone();

    for (id, expected) in [
        (second["id"].clone(), first.clone()),
        (
            first["id"].clone(),
            json!({"id": null, "room_id": null, "sender_id": null,
                   "parent_message_id": null, "forwarded_from_id": null, "content": "",
                   "is_deleted": false, "is_forwarded": false, "is_edited": false}),
        ),
    ] {
        alice
            .emit(
                "message.modify",
                json!({"action": "delete", "message_id": id}),
            )
            .await;
        alice.recv_dispatch("messagemodification.dispatch").await;
        bob.recv_dispatch("messagemodification.dispatch").await;
        bob.emit("room.list", json!({})).await;
        let list = bob.recv_dispatch("roomlist.dispatch").await;
        assert_eq!(last_message(&list), expected);
    }
}

#[tokio::test]
async fn a_soft_deleted_message_renders_empty_everywhere_and_is_gone_for_message_events() {
    // DECISIONS 25.
    let app = spawn_app_with(&[("messages.soft_delete", "true")]).await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let photo = send_with(
        &mut alice,
        json!({"room_id": ab, "extra_fields": {"media": [
            {"media_url": "https://cdn.example.com/p.jpg", "media_type": "image",
             "caption": "sunset"}]}}),
        &mut [&mut bob],
    )
    .await;
    let reply = send_with(
        &mut bob,
        json!({"room_id": ab, "content": "nice",
               "extra_fields": {"parent_message_id": photo["id"]}}),
        &mut [&mut alice],
    )
    .await;
    let forward = send_with(
        &mut bob,
        json!({"room_id": bc, "content": "look",
               "extra_fields": {"forwarded_from_id": photo["id"]}}),
        &mut [&mut carol],
    )
    .await;
    let latest = send_to(&mut alice, ab, "latest", &mut [&mut bob]).await;
    bob.close().await;

    for id in [&photo["id"], &latest["id"]] {
        alice
            .emit(
                "message.modify",
                json!({"action": "delete", "message_id": [id]}),
            )
            .await;
        assert_eq!(
            alice.recv_dispatch("messagemodification.dispatch").await,
            json!({"status": "successful", "action": "delete", "message_ids": [id]})
        );
    }

    // How a soft-deleted message looks wherever it still appears: no content, no attachments.
    let emptied = |m: &Value| {
        let mut m = m.clone();
        m["content"] = json!("");
        m["attachments"] = json!([]);
        m["is_deleted"] = json!(true);
        m
    };
    // History leaves both out; the reply quotes the photo emptied.
    let answer = history(&mut alice, ab, None).await;
    let mut expected_reply = reply.clone();
    expected_reply["parent_message"] = emptied(&photo);
    assert_eq!(answer["data"]["messages"], json!([expected_reply]));
    // The forward in another room quotes it emptied too.
    let answer = history(&mut carol, bc, None).await;
    let mut expected_forward = forward.clone();
    expected_forward["forwarded_from"] = emptied(&photo);
    assert_eq!(answer["data"]["messages"], json!([expected_forward]));
    // The room's last message is still the deleted one, emptied (`updated_at` untouched).
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    let in_list = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(ab))
        .unwrap();
    assert_eq!(in_list["last_message"], emptied(&latest));
    // Bob's pending notifications: the deleted messages' are gone; the reply's… is his own.
    // Carol's forward notification quotes the photo emptied.
    let (_bob, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
    let (_carol2, pending) = app.connect(3).await;
    let items = pending[bc.to_string()].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["message"], expected_forward);

    // The row is kept, with its content, flagged deleted.
    let db = app.db().await;
    let stored = find_many(&db, &[common::assert_uuid(&photo["id"])])
        .await
        .unwrap();
    assert!(stored[0].is_deleted);
    assert_eq!(stored[0].content, "Media Files");
    assert_eq!(
        json!(chatd::protocol::Timestamp(stored[0].updated_at)),
        photo["updated_at"]
    );

    // For every message event it is gone; it can be neither replied to nor forwarded.
    let mut bob = app.user(2).await;
    for (event, data) in [
        ("message.read", json!({"message_id": photo["id"]})),
        ("message.acknowledged", json!({"message_id": [photo["id"]]})),
        (
            "message.react",
            json!({"type": "remove", "message_id": photo["id"]}),
        ),
    ] {
        bob.refused(event, data, not_found()).await;
    }
    let edit = json!({"action": "update", "message_id": photo["id"],
                      "extra_fields": {"content": "x"}});
    alice.refused("message.modify", edit, not_found()).await;
    for key in ["parent_message_id", "forwarded_from_id"] {
        bob.refused(
            "message.send",
            json!({"room_id": ab, "content": "x", "extra_fields": {key: photo["id"]}}),
            rule("Message is deleted"),
        )
        .await;
    }
    carol.assert_nothing_pending().await;
}

#[tokio::test]
async fn deleting_messages_drops_their_notifications_in_both_modes() {
    for soft in ["false", "true"] {
        let app = spawn_app_with(&[("messages.soft_delete", soft)]).await;
        let (mut alice, bob, room) = alice_and_bob(&app).await;
        bob.close().await;
        let mut ids = Vec::new();
        for text in ["one", "two", "three"] {
            ids.push(send_to(&mut alice, room, text, &mut []).await["id"].clone());
        }
        let (bob, pending) = app.connect(2).await;
        assert_eq!(pending[room.to_string()].as_array().unwrap().len(), 3);
        bob.close().await;

        alice
            .emit(
                "message.modify",
                json!({"action": "delete", "message_id": ids}),
            )
            .await;
        alice.recv_dispatch("messagemodification.dispatch").await;
        let (_bob, pending) = app.connect(2).await;
        assert_eq!(pending, json!({}), "soft_delete = {soft}");
        assert_eq!(
            rows::<entity::notification::Entity>(&app.db().await).await,
            0
        );
    }
}

#[tokio::test]
async fn bulk_deleting_four_of_ten_leaves_six_in_history() {
    for soft in ["false", "true"] {
        let app = spawn_app_with(&[("messages.soft_delete", soft)]).await;
        let (mut alice, mut bob, room) = alice_and_bob(&app).await;
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(
                send_to(&mut alice, room, &n.to_string(), &mut [&mut bob]).await["id"].clone(),
            );
        }
        alice
            .emit(
                "message.modify",
                json!({"action": "delete", "message_id": ids[2..6].to_vec()}),
            )
            .await;
        alice.recv_dispatch("messagemodification.dispatch").await;
        bob.recv_dispatch("messagemodification.dispatch").await;
        let answer = history(&mut bob, room, None).await;
        let kept: Vec<Value> = ids[..2].iter().chain(&ids[6..]).rev().cloned().collect();
        assert_eq!(history_ids(&answer), kept, "soft_delete = {soft}");
        assert_eq!(answer["data"]["messages"][0]["sender"], user_json(1));
    }
}
