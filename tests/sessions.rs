//! Sessions (messages.md §15, DECISIONS 8–10): a row per open connection and none after it
//! closes, `last_seen` written in batches rather than per heartbeat, idle connections closed
//! with 4008, and multi-device delivery.

mod common;

use chatd::store::sessions;
use common::messages::{alice_and_bob, send_to};
use common::{spawn_app, spawn_app_with, Client, TestApp};
use entity::session;
use serde_json::json;

async fn session_rows(app: &TestApp) -> u64 {
    common::messages::rows::<session::Entity>(&app.db().await).await
}

#[tokio::test]
async fn no_session_row_is_left_after_many_connect_and_disconnect_cycles() {
    let app = spawn_app().await;
    let open: Vec<Client> = vec![app.user(1).await, app.user(1).await, app.user(2).await];
    assert_eq!(session_rows(&app).await, 3);
    for round in 0..30 {
        let client = app.user(1 + round % 3).await;
        if round % 2 == 0 {
            client.close().await;
        } else {
            // Gone without a close frame, as a phone losing its network.
            drop(client);
        }
    }
    for client in open {
        client.close().await;
    }
    app.eventually("every session row is removed", || async {
        session_rows(&app).await == 0
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_writes_nothing_and_last_seen_is_refreshed_by_the_batched_flush() {
    // A flush far away: heartbeats alone write nothing.
    let app = spawn_app_with(&[("sessions.last_seen_flush_interval", "3600")]).await;
    let db = app.db().await;
    let mut client = app.user(1).await;
    let opened = sessions::for_user(&db, 1).await.unwrap();
    for _ in 0..3 {
        client.assert_nothing_pending().await;
    }
    assert_eq!(sessions::for_user(&db, 1).await.unwrap(), opened);

    // A short flush interval: the heartbeat's time reaches the row at the next flush.
    let app = spawn_app_with(&[("sessions.last_seen_flush_interval", "0.2")]).await;
    let db = app.db().await;
    let mut client = app.user(1).await;
    let opened = sessions::for_user(&db, 1).await.unwrap().remove(0);
    client.assert_nothing_pending().await;
    app.eventually("last_seen moves past the connect time", || async {
        let now = sessions::for_user(&db, 1).await.unwrap().remove(0);
        now.last_seen > opened.last_seen && now.connected_at == opened.connected_at
    })
    .await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_4008_and_its_row_removed() {
    let app = spawn_app_with(&[("sessions.inactivity_threshold", "1.5")]).await;
    let mut client = app.user(1).await;
    assert_eq!(session_rows(&app).await, 1);
    assert_eq!(
        client.recv_close().await,
        (4008, "Session expired".to_string())
    );
    app.eventually("the expired session's row is removed", || async {
        session_rows(&app).await == 0
    })
    .await;
}

#[tokio::test]
async fn every_device_gets_room_and_user_frames_but_only_its_own_connection_frames() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut bob_tablet = app.user(2).await;

    // Room frames: every device of every member.
    let sent = send_to(
        &mut alice,
        room,
        "hi both",
        &mut [&mut bob, &mut bob_tablet],
    )
    .await;
    // User frames: every device of that user.
    bob.emit("room.list", json!({})).await;
    let list = bob.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(bob_tablet.recv_dispatch("roomlist.dispatch").await, list);
    // Connection frames: only the connection concerned (an error, a heartbeat answer).
    bob.send_text("not json").await;
    assert_eq!(bob.recv().await["error"]["code"], 4003);
    bob.assert_nothing_pending().await;
    bob_tablet.assert_nothing_pending().await;

    // A new device gets its own chat.notifications; the others get nothing.
    bob.close().await;
    bob_tablet.close().await;
    let offline = send_to(&mut alice, room, "while away", &mut []).await;
    let (mut phone, pending) = app.connect(2).await;
    let (mut laptop, again) = app.connect(2).await;
    assert_eq!(pending, again);
    assert_eq!(pending[room.to_string()].as_array().unwrap().len(), 2);
    phone.assert_nothing_pending().await;

    // Acknowledged on one device, it is gone for the user: the sender hears of it on every
    // device, and no device of the user is sent anything.
    let mut alice_phone = app.user(1).await;
    phone
        .emit(
            "message.acknowledged",
            json!({"message_id": [sent["id"], offline["id"]]}),
        )
        .await;
    let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;
    assert_eq!(
        alice_phone.recv_dispatch("messagedelivered.dispatch").await,
        delivered
    );
    phone.assert_nothing_pending().await;
    laptop.assert_nothing_pending().await;
    let (_third, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
}
