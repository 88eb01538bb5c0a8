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

/// Waits until `n` session rows are left.
async fn until_rows(app: &TestApp, n: u64) {
    app.eventually(&format!("{n} session rows are left"), || async {
        session_rows(app).await == n
    })
    .await;
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
    until_rows(&app, 0).await;
}

/// Connections that open at the same moment (a reconnect storm) have their rows written
/// together (`presence::ledger`): each one's row is there by its first frame all the same
/// (messages.md §15.2: the session row, then `chat.notifications`), and each is removed when
/// its connection ends, whether it opened and closed in the same round or not.
#[tokio::test]
async fn connections_opened_at_once_each_have_their_row_by_their_first_frame() {
    let app = spawn_app().await;
    let db = app.db().await;
    let users: Vec<i64> = (1..=40).collect();
    let opened = futures_util::future::join_all(users.iter().map(|&user| {
        let (app, db) = (&app, &db);
        async move {
            let client = app.user(user).await;
            let rows = sessions::for_user(db, user).await.unwrap();
            assert_eq!(rows.len(), 1, "user {user}'s row by the first frame");
            assert!(rows[0].last_seen == rows[0].connected_at);
            client
        }
    }))
    .await;
    assert_eq!(session_rows(&app).await, 40);
    // Closing and opening at once: some rows are removed in the round that writes others.
    let reopened =
        futures_util::future::join_all(opened.into_iter().enumerate().map(|(i, client)| {
            let app = &app;
            async move {
                if i % 2 == 0 {
                    client.close().await;
                } else {
                    drop(client);
                }
                app.user(100 + i as i64).await
            }
        }))
        .await;
    until_rows(&app, 40).await;
    for client in reopened {
        drop(client);
    }
    until_rows(&app, 0).await;
}

/// A reconnect whose token carries the profile the user already has writes nothing but its
/// session row: the user is looked up (on SQLite through a reader), not written.
#[tokio::test]
async fn a_reconnect_with_an_unchanged_profile_writes_only_its_session_row() {
    let app = spawn_app().await;
    app.user(5).await.close().await;
    until_rows(&app, 0).await;
    let count = |statement: &str| {
        format!("chatd_db_query_duration_seconds_count{{statement=\"{statement}\"}}")
    };
    let before = app.scrape().await;
    let client = app.user(5).await;
    let after = app.scrape().await;
    let moved = |statement: &str| after.value(&count(statement)) - before.value(&count(statement));
    assert_eq!(moved("insert"), 1.0, "the session row");
    assert_eq!(moved("update"), 0.0, "the user is unchanged");
    assert_eq!(moved("delete"), 0.0);
    drop(client);
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
    until_rows(&app, 0).await;
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
