//! The room actors' lifecycle: retired when idle and reloaded from the database with the
//! same members, roles and lock; stopped when their room is deleted.

mod common;

use std::time::Duration;

use common::rooms::{create_channel, create_group, denied, texts};
use common::{send_message, spawn_app, spawn_app_with, Client, TestApp};
use entity::message;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

/// Waits (bounded, as a hang guard) until the server runs `n` room actors.
async fn until_live_actors(app: &TestApp, n: usize) {
    for _ in 0..300 {
        if app.live_room_actors() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} live room actors, found {}",
        app.live_room_actors()
    );
}

#[tokio::test]
async fn a_retired_room_actor_comes_back_with_its_members_admins_and_lock() {
    retired_and_back("actors").await;
}

/// The same with each room's actor on the HTTP worker of its first caller
/// (`rooms.actor_thread = "worker"`): the fresh actor may start on the other worker.
#[tokio::test]
async fn a_retired_room_actor_on_a_worker_comes_back_with_its_members_admins_and_lock() {
    retired_and_back("worker").await;
}

async fn retired_and_back(actor_thread: &str) {
    let app = spawn_app_with(&[
        ("rooms.actor_idle_timeout", "0.2"),
        ("rooms.actor_thread", actor_thread),
    ])
    .await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    for (action, data) in [
        ("add_admin", json!({"users": [2]})),
        ("update", json!({"group_locked": true})),
    ] {
        alice
            .emit(
                "room.modify",
                json!({"room_id": group, "action": action, "data": data}),
            )
            .await;
        for c in [&mut alice, &mut bob, &mut carol] {
            c.recv_dispatch("roomupdate.dispatch").await;
        }
    }
    alice.emit("room.info", json!({"room_id": group})).await;
    let before = alice.recv_dispatch("roominfo.dispatch").await;

    until_live_actors(&app, 0).await;

    // A fresh actor loads the room: the lock and the admin are still there.
    carol
        .refused(
            "message.send",
            json!({"room_id": group, "content": "let me"}),
            denied(texts::SEND),
        )
        .await;
    assert_eq!(app.live_room_actors(), 1);
    let post = send_message(&mut bob, group, "admins may").await;
    assert_eq!(alice.recv_dispatch("message.dispatch").await, post);
    assert_eq!(carol.recv_dispatch("message.dispatch").await, post);
    alice.emit("room.info", json!({"room_id": group})).await;
    let after = alice.recv_dispatch("roominfo.dispatch").await;
    assert_eq!(after["participants"], before["participants"]);
    assert_eq!(after["admins"], before["admins"]);
    assert_eq!(after["group_locked"], true);
}

#[tokio::test]
async fn a_deleted_room_stops_its_actor_however_it_was_deleted() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;

    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    assert_eq!(app.live_room_actors(), 1);
    alice
        .emit("room.modify", json!({"room_id": group, "action": "delete"}))
        .await;
    alice.recv_dispatch("roomdelete.dispatch").await;
    bob.recv_dispatch("roomdelete.dispatch").await;
    assert_eq!(app.live_room_actors(), 0);

    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    assert_eq!(app.live_room_actors(), 1);
    alice.emit("room.leave", json!({"room_id": channel})).await;
    alice.recv_dispatch("roomdelete.dispatch").await;
    assert_eq!(app.live_room_actors(), 0);

    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    alice
        .emit(
            "room.remove_members",
            json!({"room_id": group, "members": [1, 2]}),
        )
        .await;
    alice.recv_dispatch("roomdelete.dispatch").await;
    bob.recv_dispatch("roomdelete.dispatch").await;
    assert_eq!(app.live_room_actors(), 0);

    // Asking about a deleted room starts nothing.
    alice
        .refused(
            "room.info",
            json!({"room_id": group}),
            common::rooms::not_found(),
        )
        .await;
    assert_eq!(app.live_room_actors(), 0);
}

#[tokio::test]
async fn every_member_sees_a_rooms_messages_in_one_order_which_is_the_commit_order() {
    one_order_which_is_the_commit_order("own", "actors").await;
}

/// The same with the room's actor on the HTTP worker of its first caller
/// (`rooms.actor_thread = "worker"`): the three members' connections sit on both of the test
/// server's workers, so some sends reach the room on its own worker and some cross from the
/// other; with `adaptive` some commit there, on the worker, and some by the writer.
#[tokio::test]
async fn with_the_room_on_its_first_callers_worker_the_order_is_the_commit_order() {
    one_order_which_is_the_commit_order("own", "worker").await;
    one_order_which_is_the_commit_order("adaptive", "worker").await;
}

/// The same with sends committed on the room actors' thread while the writer is idle
/// (`database.writer_thread = "adaptive"`), some of them there and some by the writer.
#[tokio::test]
async fn with_sends_committed_where_they_are_while_the_writer_is_idle_the_order_is_the_commit_order(
) {
    one_order_which_is_the_commit_order("adaptive", "actors").await;
}

async fn one_order_which_is_the_commit_order(writer_thread: &str, actor_thread: &str) {
    let app = spawn_app_with(&[
        ("database.writer_thread", writer_thread),
        ("rooms.actor_thread", actor_thread),
    ])
    .await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    const EACH: usize = 5;
    let mut members = [alice, bob, carol];
    // Everyone sends at once.
    for i in 0..EACH {
        for (n, m) in members.iter_mut().enumerate() {
            m.emit(
                "message.send",
                json!({"room_id": group, "content": format!("{n}-{i}")}),
            )
            .await;
        }
    }
    let mut seen: Vec<Vec<Value>> = Vec::new();
    for m in members.iter_mut() {
        seen.push(message_ids(m, EACH * 3).await);
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "one order for everyone");
    let stored: Vec<Value> = message::Entity::find()
        .filter(message::Column::RoomId.eq(group))
        .order_by_asc(message::Column::CreatedAt)
        .all(&app.db().await)
        .await
        .unwrap()
        .into_iter()
        .map(|m| json!(m.id))
        .collect();
    assert_eq!(seen[0], stored);
}

/// The ids of the next `n` `message.dispatch` frames.
async fn message_ids(client: &mut Client, n: usize) -> Vec<Value> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(client.recv_dispatch("message.dispatch").await["id"].clone());
    }
    ids
}

/// With the writer on the room actors' thread (`database.writer_thread = "rooms"`), what a
/// room's sends committed is there after the server stops and starts again: the writer ends
/// between batches before the actors' thread stops. Bob, offline for the last two, has them
/// replayed as he connects.
#[tokio::test]
async fn with_the_writer_on_the_rooms_thread_sends_survive_a_restart() {
    sends_survive_a_restart("rooms", "actors").await;
}

/// The same with sends committed on the room actors' thread while the writer is idle
/// (`database.writer_thread = "adaptive"`): Alice's sends, one at a time, commit there, on the
/// writer's own connection, and the writer closes it only after the last of them.
#[tokio::test]
async fn with_sends_committed_where_they_are_while_the_writer_is_idle_they_survive_a_restart() {
    sends_survive_a_restart("adaptive", "actors").await;
}

/// The same with the room's actor on the HTTP worker of its first caller
/// (`rooms.actor_thread = "worker"`): Alice's sends commit on that worker while the writer is
/// idle, and the worker's end at the stop neither loses them nor keeps the room from starting
/// afresh on the next server.
#[tokio::test]
async fn with_the_room_on_its_first_callers_worker_sends_survive_a_restart() {
    sends_survive_a_restart("adaptive", "worker").await;
    sends_survive_a_restart("own", "worker").await;
}

async fn sends_survive_a_restart(writer_thread: &str, actor_thread: &str) {
    let mut app = spawn_app_with(&[
        ("database.writer_thread", writer_thread),
        ("rooms.actor_thread", actor_thread),
    ])
    .await;
    let (mut alice, mut bob) = (app.user(1).await, app.user(2).await);
    let room = common::create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let first = send_message(&mut alice, room, "while bob is here").await;
    assert_eq!(bob.recv_dispatch("message.dispatch").await, first);
    bob.close().await;
    let later = [
        send_message(&mut alice, room, "one").await,
        send_message(&mut alice, room, "two").await,
    ];
    drop(alice);

    app.restart().await;

    let (_bob, pending) = app.connect(2).await;
    let replayed: Vec<Value> = pending[room.to_string()]
        .as_array()
        .expect("the room's notifications")
        .iter()
        .map(|n| n["message"]["content"].clone())
        .collect();
    let mut expected: Vec<Value> = [&first, &later[0], &later[1]]
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    expected.sort_by_key(|c| c.to_string());
    let mut replayed_sorted = replayed.clone();
    replayed_sorted.sort_by_key(|c| c.to_string());
    assert_eq!(replayed_sorted, expected);
    let stored = message::Entity::find()
        .filter(message::Column::RoomId.eq(room))
        .all(&app.db().await)
        .await
        .expect("the room's messages");
    assert_eq!(stored.len(), 3);
}
