//! The `chatd` binary's non-server commands, run as a user would run them.

mod common;

use std::process::Command;

use common::rooms::{create_group, create_room, not_found};
use common::{create_one_to_one, send_message, spawn_app, user_json};
use serde_json::json;

fn chatd(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(args)
        .env("CHAT__DATABASE__URL", database_url)
        .env("RUST_LOG", "off")
        .output()
        .expect("run chatd")
}

#[tokio::test]
async fn the_token_command_prints_a_token_the_server_accepts() {
    let app = spawn_app().await;
    let out = chatd(
        &app.settings.database.url,
        &[
            "token",
            "--user-id",
            "42",
            "--username",
            "zed",
            "--ttl",
            "10m",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut client = common::Client::open(&format!("{}?token={token}", app.ws_url()))
        .await
        .unwrap();
    assert_eq!(client.recv().await["eventType"], "chat.notifications");
    client.emit("room.list", json!({})).await;
    assert_eq!(client.recv_dispatch("roomlist.dispatch").await, json!([]));
}

#[tokio::test]
async fn the_token_command_rejects_bad_arguments() {
    let app = spawn_app().await;
    let out = chatd(&app.settings.database.url, &["token"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("required arguments were not provided") && stderr.contains("--user-id"),
        "{stderr}"
    );
    let out = chatd(
        &app.settings.database.url,
        &["token", "--user-id", "1", "--ttl", "1y"],
    );
    assert!(!out.status.success());
}

/// `chatd ARGS --help`: it must succeed; returns what it printed.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run chatd");
    assert!(out.status.success(), "chatd {args:?} --help");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

#[test]
fn help_documents_every_command_and_option() {
    let top = help(&[]);
    for command in ["serve", "migrate", "token", "users", "--config"] {
        assert!(
            top.contains(command),
            "chatd --help names {command}:\n{top}"
        );
    }
    for (command, mentions) in [
        (&["serve"][..], &["/readyz", "drain_seconds", "1001"][..]),
        (&["migrate"], &["migrations"]),
        (
            &["token"],
            &[
                "--user-id",
                "--username",
                "--email",
                "--first-name",
                "--last-name",
                "--ttl",
            ],
        ),
        (&["users"], &["list", "delete"]),
        (&["users", "list"], &["List known users"]),
        (&["users", "delete"], &["<ID>", "one-to-one chats"]),
    ] {
        let text = help(command);
        for mention in mentions {
            assert!(
                text.contains(mention),
                "chatd {command:?} --help mentions {mention}:\n{text}"
            );
        }
    }
}

/// Runs `chatd migrate` with one extra environment variable; it must fail. Returns stderr.
fn migrate_failing_with(var: &str, value: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["migrate"])
        .env(var, value)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{var}={value} must stop the command");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_bad_setting_stops_the_command_and_names_the_key() {
    let stderr = migrate_failing_with("CHAT__SESSIONS__INACTIVITY_THRESHOLD", "soon");
    assert!(stderr.contains("inactivity_threshold"), "{stderr}");
    let stderr = migrate_failing_with("CHAT__SERVER__PROT", "1");
    assert!(stderr.contains("unknown setting `server.prot`"), "{stderr}");
}

#[tokio::test]
async fn deleting_a_user_deletes_their_one_to_one_chats() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    send_message(&mut alice, room, "bye").await;
    bob.recv_dispatch("message.dispatch").await;
    bob.close().await;

    let listed = chatd(&app.settings.database.url, &["users", "list"]);
    assert!(listed.status.success());
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listing.contains("user1") && listing.contains("user2"),
        "{listing}"
    );

    let out = chatd(&app.settings.database.url, &["users", "delete", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = chatd(&app.settings.database.url, &["users", "delete", "2"]);
    assert!(
        !out.status.success(),
        "deleting twice reports the user as unknown"
    );

    alice.emit("room.list", json!({})).await;
    assert_eq!(alice.recv_dispatch("roomlist.dispatch").await, json!([]));
    let not_found = json!({"error": {"code": 4004, "detail": "Resource not found."}});
    alice.emit("room.info", json!({"room_id": room})).await;
    assert_eq!(alice.recv().await, not_found);
    // The room's actor outlived the room (deleted from outside the server): still 4004.
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": "anyone?"}),
        )
        .await;
    assert_eq!(alice.recv().await, not_found);
}

#[tokio::test]
async fn a_group_deleted_with_its_creator_is_noticed_by_the_running_server() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    send_message(&mut bob, group, "hello").await;
    alice.recv_dispatch("message.dispatch").await;
    assert_eq!(app.live_room_actors(), 1);
    alice.close().await;

    // Another process deletes the creator, and with them the group.
    let out = chatd(&app.settings.database.url, &["users", "delete", "1"]);
    assert!(out.status.success());

    // The first write finds the room gone: 4004, and the room's actor leaves the registry.
    bob.refused(
        "message.send",
        json!({"room_id": group, "content": "anyone?"}),
        not_found(),
    )
    .await;
    assert_eq!(app.live_room_actors(), 0);
    bob.refused("room.info", json!({"room_id": group}), not_found())
        .await;
    bob.emit("room.list", json!({})).await;
    assert_eq!(bob.recv_dispatch("roomlist.dispatch").await, json!([]));
}

#[tokio::test]
async fn a_member_deleted_by_another_process_does_not_break_a_running_room() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    send_message(&mut carol, group, "bye").await;
    alice.recv_dispatch("message.dispatch").await;
    bob.recv_dispatch("message.dispatch").await;
    carol.close().await;

    let out = chatd(&app.settings.database.url, &["users", "delete", "3"]);
    assert!(out.status.success());

    // The actor still counts carol as a member; its write meets her deleted row, reloads the
    // room and succeeds without her.
    let post = send_message(&mut alice, group, "still here").await;
    assert_eq!(bob.recv_dispatch("message.dispatch").await, post);
    alice.emit("room.info", json!({"room_id": group})).await;
    let info = alice.recv_dispatch("roominfo.dispatch").await;
    assert_eq!(info["participants"], json!([user_json(1), user_json(2)]));
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_member_deleted_by_another_process_who_comes_back_is_no_member_of_the_old_rooms() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    send_message(&mut bob, group, "hi").await;
    alice.recv_dispatch("message.dispatch").await;
    carol.recv_dispatch("message.dispatch").await;
    bob.close().await;
    let out = chatd(&app.settings.database.url, &["users", "delete", "2"]);
    assert!(out.status.success());

    // Bob's token still works: the server sees user 2 for the first time again. The running
    // room must not count him in.
    let mut bob = app.user(2).await;
    bob.refused(
        "room.info",
        json!({"room_id": group}),
        common::rooms::denied(common::rooms::texts::ACCESS_ROOM),
    )
    .await;
    let post = send_message(&mut alice, group, "not for bob").await;
    assert_eq!(carol.recv_dispatch("message.dispatch").await, post);
    bob.assert_nothing_pending().await;
    bob.refused(
        "message.send",
        json!({"room_id": group, "content": "back"}),
        common::rooms::denied(common::rooms::texts::SEND),
    )
    .await;
}

#[tokio::test]
async fn a_room_id_reused_after_an_outside_deletion_reaches_only_the_new_members() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;
    let id = uuid::Uuid::new_v4();
    create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Old", "participants": [2], "id": id}),
        &mut [&mut bob],
    )
    .await;
    alice.close().await;
    let out = chatd(&app.settings.database.url, &["users", "delete", "1"]);
    assert!(out.status.success());

    // Nothing has told the running server; a new room takes the same id.
    create_room(
        &mut carol,
        json!({"type": "GroupChat", "name": "New", "participants": [4], "id": id}),
        &mut [&mut dave],
    )
    .await;
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn migrate_applies_the_schema_to_a_new_database() {
    let path = std::env::temp_dir().join(format!("chatd-cli-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let out = chatd(&url, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    let out = chatd(&url, &["users", "list"]);
    assert!(out.status.success());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn deleting_a_user_takes_their_messages_off_unread_counts_and_sweeps_what_only_they_were_owed(
) {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let room = common::rooms::create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    let from_alice =
        common::messages::send_to(&mut alice, room, "to all", &mut [&mut bob, &mut carol]).await;
    for text in ["one", "two"] {
        common::messages::send_to(&mut carol, room, text, &mut [&mut alice, &mut bob]).await;
    }
    // Bob acknowledges Alice's message: its notification is owed to Carol alone.
    bob.emit(
        "message.acknowledged",
        json!({"message_id": from_alice["id"]}),
    )
    .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    carol.close().await;

    let out = chatd(&app.settings.database.url, &["users", "delete", "3"]);
    assert!(out.status.success(), "{out:?}");

    // Carol's two messages no longer count for Alice; Alice's one still counts for Bob.
    for (client, unread) in [(&mut alice, 0), (&mut bob, 1)] {
        client.emit("room.list", json!({})).await;
        let list = client.recv_dispatch("roomlist.dispatch").await;
        assert_eq!(list[0]["unread_count"], unread);
    }
    // The notification only Carol was owed is gone with her; nothing else is pending.
    let db = app.db().await;
    assert_eq!(
        common::messages::rows::<entity::notification::Entity>(&db).await,
        0
    );
}
