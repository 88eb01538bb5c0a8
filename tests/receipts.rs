//! Read receipts (`message.read`, single and bulk) and delivery receipts
//! (`message.acknowledged`): exact dispatches and audiences, all-or-nothing bulk reads, the
//! full message shape, and every error of messages.md §10.5 and §11.4.

mod common;

use common::messages::{
    alice_and_bob, keys, not_a_uuid, react_to, recv_on_all, rows, send_to, send_with,
};
use common::rooms::{constraint, denied, internal, not_found, rule};
use common::{create_one_to_one, normalize_times, spawn_app, user_json, Client};
use serde_json::{json, Value};

/// `message` as it renders once the listed users have read it (`read_at` normalised).
fn read_by(message: &Value, readers: &[i64]) -> Value {
    let mut m = message.clone();
    normalize_times(&mut m);
    m["read_receipts"] = readers
        .iter()
        .map(|id| json!({"reader": user_json(*id), "read_at": "<ts>"}))
        .collect();
    m
}

async fn receipts_count(app: &common::TestApp) -> u64 {
    rows::<entity::read_receipt::Entity>(&app.db().await).await
}

#[tokio::test]
async fn reading_a_message_shows_the_room_the_receipt_once() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let mut carol = app.user(3).await;
    let message = send_to(&mut alice, room, "hi", &mut [&mut bob, &mut alice_laptop]).await;

    bob.emit("message.read", json!({"message_id": message["id"]}))
        .await;
    let mut read = recv_on_all(
        "readreceipt.dispatch",
        &mut [&mut bob, &mut alice, &mut alice_laptop],
    )
    .await;
    carol.assert_nothing_pending().await;
    // Single mode: the message itself, not an array.
    assert_eq!(keys(&read["read_receipts"][0]), ["reader", "read_at"]);
    normalize_times(&mut read);
    assert_eq!(read, read_by(&message, &[2]));

    // Reading again is the unique constraint, as in the reference (DECISIONS 24).
    bob.refused(
        "message.read",
        json!({"message_id": message["id"]}),
        constraint(),
    )
    .await;
    // Reading one's own message stores nothing and sends nothing at all.
    alice
        .emit("message.read", json!({"message_id": message["id"]}))
        .await;
    for client in [&mut alice, &mut alice_laptop, &mut bob] {
        client.assert_nothing_pending().await;
    }
    assert_eq!(receipts_count(&app).await, 1);

    // Reading marks no delivery and leaves the reader's notification pending.
    let (_bob2, pending) = app.connect(2).await;
    let items = pending[room.to_string()].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["message"]["delivered_to"], json!([]));
    assert_eq!(
        items[0]["message"]["read_receipts"][0]["reader"],
        user_json(2)
    );
}

/// The next two `readreceipt.dispatch` frames of a connection, whatever their order, keyed by
/// the room they are about.
async fn two_room_frames(client: &mut Client) -> std::collections::HashMap<String, Value> {
    let mut frames = std::collections::HashMap::new();
    for _ in 0..2 {
        let mut data = client.recv_dispatch("readreceipt.dispatch").await;
        normalize_times(&mut data);
        let room = data[0]["room"]["id"].as_str().unwrap().to_string();
        frames.insert(room, data);
    }
    frames
}

#[tokio::test]
async fn a_bulk_read_sends_one_array_per_room_and_skips_own_messages() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let a1 = send_to(&mut alice, ab, "a1", &mut [&mut bob]).await;
    let a2 = send_to(&mut alice, ab, "a2", &mut [&mut bob]).await;
    let own = send_to(&mut bob, ab, "mine", &mut [&mut alice]).await;
    let c1 = send_to(&mut carol, bc, "c1", &mut [&mut bob]).await;

    bob.emit(
        "message.read",
        json!({"message_id": [a2["id"], own["id"], c1["id"], a1["id"], a2["id"]]}),
    )
    .await;
    // One frame per room, each an array (messages in request order), to that room only.
    let ab_frame = json!([read_by(&a2, &[2]), read_by(&a1, &[2])]);
    let bc_frame = json!([read_by(&c1, &[2])]);
    let at_bob = two_room_frames(&mut bob).await;
    assert_eq!(at_bob[&ab.to_string()], ab_frame);
    assert_eq!(at_bob[&bc.to_string()], bc_frame);
    let mut at_alice = alice.recv_dispatch("readreceipt.dispatch").await;
    normalize_times(&mut at_alice);
    assert_eq!(at_alice, ab_frame);
    let mut at_carol = carol.recv_dispatch("readreceipt.dispatch").await;
    normalize_times(&mut at_carol);
    assert_eq!(at_carol, bc_frame);
    for client in [&mut alice, &mut bob, &mut carol] {
        client.assert_nothing_pending().await;
    }
    assert_eq!(receipts_count(&app).await, 3);

    // Nothing to read (an empty list, or only one's own messages): no frame at all.
    for ids in [json!([]), json!([own["id"]])] {
        bob.emit("message.read", json!({"message_id": ids})).await;
        bob.assert_nothing_pending().await;
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_bulk_read_is_all_or_nothing_and_checks_ids_in_request_order() {
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let ac = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let read = send_to(&mut alice, ab, "read", &mut [&mut bob]).await;
    let unread = send_to(&mut alice, ab, "unread", &mut [&mut bob]).await;
    let foreign = send_to(&mut carol, ac, "not for bob", &mut [&mut alice]).await;
    let unknown = json!(uuid::Uuid::new_v4());
    bob.emit("message.read", json!({"message_id": read["id"]}))
        .await;
    bob.recv_dispatch("readreceipt.dispatch").await;
    alice.recv_dispatch("readreceipt.dispatch").await;

    let access = denied("User is not authorized to access this message");
    for (ids, frame) in [
        (json!([unread["id"], foreign["id"]]), access.clone()),
        (json!([unread["id"], read["id"]]), constraint()),
        (json!([unknown, foreign["id"]]), not_found()),
        (json!([foreign["id"], unknown]), access.clone()),
        (json!([unread["id"], "abc"]), not_a_uuid("abc")),
    ] {
        bob.refused("message.read", json!({"message_id": ids}), frame)
            .await;
    }
    for (data, frame) in [
        (json!(null), internal()),
        (json!([]), internal()),
        (json!({}), rule("Invalid message_id type")),
        (json!({"message_id": true}), rule("Invalid message_id type")),
        (
            json!({"message_id": {"a": 1}}),
            rule("Invalid message_id type"),
        ),
        (json!({"message_id": "abc"}), not_a_uuid("abc")),
        (json!({"message_id": unknown}), not_found()),
        (json!({"message_id": foreign["id"]}), access.clone()),
    ] {
        bob.refused("message.read", data, frame).await;
    }
    alice.assert_nothing_pending().await;
    carol.assert_nothing_pending().await;
    assert_eq!(receipts_count(&app).await, 1);
    // The refused batches left `unread` unread.
    bob.emit("message.read", json!({"message_id": [unread["id"]]}))
        .await;
    let mut frame = bob.recv_dispatch("readreceipt.dispatch").await;
    normalize_times(&mut frame);
    assert_eq!(frame, json!([read_by(&unread, &[2])]));
}

#[tokio::test]
async fn an_acknowledgement_tells_the_sender_the_whole_message() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut bob_tablet = app.user(2).await;
    let mut carol = app.user(3).await;
    let question = send_to(&mut alice, room, "Lunch?", &mut [&mut bob, &mut bob_tablet]).await;
    bob.emit(
        "message.acknowledged",
        json!({"message_id": question["id"]}),
    )
    .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    let answer = send_with(
        &mut bob,
        json!({"room_id": room, "content": "ignored", "extra_fields": {
            "parent_message_id": question["id"],
            "media": [{"media_url": " https://cdn.example.com/clip.mp4 ", "media_type": "video",
                       "file_size": "1024", "mime_type": "video/mp4", "caption": "clip",
                       "metadata": {"duration": 3.5}, "message_id": "ignored"}]}}),
        &mut [&mut alice, &mut bob_tablet],
    )
    .await;
    let reacted = react_to(&mut alice, &answer, "👍", &mut [&mut bob, &mut bob_tablet]).await;
    alice
        .emit("message.read", json!({"message_id": answer["id"]}))
        .await;
    for client in [&mut alice, &mut bob, &mut bob_tablet] {
        client.recv_dispatch("readreceipt.dispatch").await;
    }

    alice
        .emit(
            "message.acknowledged",
            json!({"message_id": [answer["id"]]}),
        )
        .await;
    let mut delivered = recv_on_all(
        "messagedelivered.dispatch",
        &mut [&mut bob, &mut bob_tablet],
    )
    .await;
    alice.assert_nothing_pending().await;
    carol.assert_nothing_pending().await;

    // Every key of the message shape, nested source included.
    let attachment_id = delivered[0]["attachments"][0]["id"].clone();
    common::assert_uuid(&attachment_id);
    let reaction_id = reacted["message"]["reactions"][0]["id"].clone();
    normalize_times(&mut delivered);
    assert_eq!(
        delivered,
        json!([{
            "id": answer["id"],
            "room": {"id": room},
            "sender": user_json(2),
            "read_receipts": [{"reader": user_json(1), "read_at": "<ts>"}],
            "reactions": [{"id": reaction_id, "user": user_json(1), "reaction_content": "👍",
                           "created_at": "<ts>"}],
            "attachments": [{"id": attachment_id, "media_url": "https://cdn.example.com/clip.mp4",
                             "media_type": "video", "file_size": 1024, "mime_type": "video/mp4",
                             "caption": "clip", "metadata": {"duration": 3.5}}],
            "parent_message": {
                "id": question["id"],
                "room": {"id": room},
                "sender": user_json(1),
                "read_receipts": [], "reactions": [], "attachments": [],
                "parent_message": null, "forwarded_from": null,
                "delivered_to": ["user2"],
                "content": "Lunch?", "is_deleted": false,
                "created_at": "<ts>", "updated_at": "<ts>",
                "is_forwarded": false, "is_edited": false
            },
            "forwarded_from": null,
            "delivered_to": ["user1"],
            "content": "Media Files",
            "is_deleted": false,
            "created_at": "<ts>",
            "updated_at": "<ts>",
            "is_forwarded": false,
            "is_edited": false
        }])
    );
    assert_eq!(
        keys(&delivered[0]),
        [
            "id",
            "room",
            "sender",
            "read_receipts",
            "reactions",
            "attachments",
            "parent_message",
            "forwarded_from",
            "delivered_to",
            "content",
            "is_deleted",
            "created_at",
            "updated_at",
            "is_forwarded",
            "is_edited"
        ]
    );
}

#[tokio::test]
async fn acknowledging_ones_own_message_tells_oneself() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let message = send_to(&mut alice, room, "mine", &mut [&mut bob, &mut alice_laptop]).await;
    bob.emit("message.acknowledged", json!({"message_id": message["id"]}))
        .await;
    recv_on_all(
        "messagedelivered.dispatch",
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;

    alice
        .emit("message.acknowledged", json!({"message_id": message["id"]}))
        .await;
    let delivered = recv_on_all(
        "messagedelivered.dispatch",
        &mut [&mut alice, &mut alice_laptop],
    )
    .await;
    assert_eq!(delivered[0]["delivered_to"], json!(["user2", "user1"]));
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn acknowledged_answers_every_error_of_the_catalogue_in_request_order() {
    let app = spawn_app().await;
    let (mut alice, mut bob, _ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let ac = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let foreign = send_to(&mut carol, ac, "not for bob", &mut [&mut alice]).await;
    let unknown = json!(uuid::Uuid::new_v4());
    let access = denied("User is not authorized to access this message");
    for (data, frame) in [
        (json!(null), internal()),
        (json!({}), rule("Invalid message_id type")),
        (
            json!({"message_id": false}),
            rule("Invalid message_id type"),
        ),
        (json!({"message_id": "abc"}), not_a_uuid("abc")),
        (json!({"message_id": unknown}), not_found()),
        (json!({"message_id": foreign["id"]}), access.clone()),
        (json!({"message_id": [unknown, foreign["id"]]}), not_found()),
        (
            json!({"message_id": [foreign["id"], unknown]}),
            access.clone(),
        ),
    ] {
        bob.refused("message.acknowledged", data, frame).await;
    }
    // Nothing was recorded, nobody was told.
    carol.assert_nothing_pending().await;
    alice.assert_nothing_pending().await;
    assert_eq!(
        rows::<entity::message_delivery::Entity>(&app.db().await).await,
        0
    );
}
