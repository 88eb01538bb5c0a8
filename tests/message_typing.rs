//! `message.typing` (DECISIONS 23): not stored, carries `room_id`, reaches every member's
//! devices except the typist's own, refused with `message.send`'s first five errors.

mod common;

use common::messages::{alice_and_bob, not_a_uuid, rows, send_to};
use common::rooms::{denied, internal, not_found, rule};
use common::spawn_app;
use serde_json::json;

#[tokio::test]
async fn typing_reaches_every_member_but_none_of_the_typists_devices() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut alice_laptop = app.user(1).await;
    let mut bob_tablet = app.user(2).await;
    let mut carol = app.user(3).await;

    // Any accepted spelling of the id; the dispatch names the room canonically.
    alice
        .emit(
            "message.typing",
            json!({"room_id": room.to_string().to_uppercase()}),
        )
        .await;
    let frame = json!({"type": "broadcast_group", "eventType": "messagetyping.dispatch",
                       "data": {"username": "user1", "room_id": room}});
    assert_eq!(bob.recv().await, frame);
    assert_eq!(bob_tablet.recv().await, frame);
    for client in [&mut alice, &mut alice_laptop, &mut carol] {
        client.assert_nothing_pending().await;
    }
    let db = app.db().await;
    assert_eq!(rows::<entity::message::Entity>(&db).await, 0);

    // Without a room id, a message's room is the room (messages.md §12.1).
    let message = send_to(
        &mut alice,
        room,
        "hi",
        &mut [&mut bob, &mut bob_tablet, &mut alice_laptop],
    )
    .await;
    bob.emit("message.typing", json!({"message_id": message["id"]}))
        .await;
    let frame = json!({"type": "broadcast_group", "eventType": "messagetyping.dispatch",
                       "data": {"username": "user2", "room_id": room}});
    assert_eq!(alice.recv().await, frame);
    assert_eq!(alice_laptop.recv().await, frame);
    bob.assert_nothing_pending().await;
    bob_tablet.assert_nothing_pending().await;
}

#[tokio::test]
async fn typing_is_refused_like_a_send() {
    let app = spawn_app().await;
    let (_alice, mut bob, room) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    for (data, frame) in [
        (json!(null), internal()),
        (json!({"room_id": true}), rule("Invalid room_id type")),
        (json!({"room_id": [room]}), rule("Invalid room_id type")),
        (json!({}), rule("Invalid message_id type")),
        (json!({"room_id": ""}), rule("Invalid message_id type")),
        (json!({"room_id": "abc"}), not_a_uuid("abc")),
        (json!({"message_id": "abc"}), not_a_uuid("abc")),
        (json!({"room_id": uuid::Uuid::new_v4()}), not_found()),
        (json!({"message_id": uuid::Uuid::new_v4()}), not_found()),
        (
            json!({"room_id": room}),
            denied("User is not authorized to send message to this room"),
        ),
    ] {
        carol.refused("message.typing", data, frame).await;
    }
    bob.assert_nothing_pending().await;
}
