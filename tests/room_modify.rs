//! `room.modify` `update` and `delete`, and the checks every action shares: the gate first
//! (creator for `delete`, admin/moderator otherwise), then the action and its data.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, create_room, denied, error, field, group_json,
    info_json, internal, merged, not_found, rule, texts,
};
use common::{create_one_to_one, send_message, spawn_app, user_json};
use serde_json::{json, Value};
use uuid::Uuid;

fn modify(room: Uuid, action: &str, data: Value) -> Value {
    json!({"room_id": room, "action": action, "data": data})
}

#[tokio::test]
async fn an_update_broadcasts_the_new_detail_to_every_member() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;

    alice
        .emit(
            "room.modify",
            modify(
                group,
                "update",
                json!({"name": "New Room Name", "description": "Updated description",
                       "avatar": "https://cdn.example.com/avatar.jpg",
                       "group_locked": true, "join_approval_required": true,
                       "max_participants": 1, "creator": 2, "type": "Channel",
                       "property": {"preferences": {"theme": "dark"}, "other": 1}}),
            ),
        )
        .await;
    let updated = alice.recv_dispatch("roomupdate.dispatch").await;
    assert_eq!(bob.recv_dispatch("roomupdate.dispatch").await, updated);
    // The row was saved: updated_at moved on from created_at.
    assert_ne!(updated["updated_at"], updated["created_at"]);
    let mut updated = updated;
    common::normalize_times(&mut updated);
    assert_eq!(
        updated,
        merged(
            group_json(group, 1, &[1, 2], &[1]),
            json!({"name": "New Room Name", "description": "Updated description",
                   "avatar": "https://cdn.example.com/avatar.jpg", "group_locked": true,
                   "join_approval_required": true,
                   "property": {"preferences": {"theme": "dark"}}})
        )
    );
    carol.assert_nothing_pending().await;

    // Falsy values leave fields as they are, flags must be JSON booleans, unknown keys are
    // ignored, and the update is still broadcast.
    alice
        .emit(
            "room.modify",
            modify(
                group,
                "update",
                json!({"name": "", "description": null, "avatar": 0, "group_locked": "false",
                       "is_public": true, "color": "red", "property": {}}),
            ),
        )
        .await;
    let same = alice.recv_normalized("roomupdate.dispatch").await;
    assert_eq!(same, updated);
    bob.recv_dispatch("roomupdate.dispatch").await;
}

#[tokio::test]
async fn an_update_validates_what_it_would_apply_and_then_saves_nothing() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;
    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    let cases = [
        (
            json!({"name": "x".repeat(65)}),
            field("name", "Ensure this field has no more than 64 characters."),
        ),
        (
            json!({"name": "  "}),
            field("name", "This field may not be blank."),
        ),
        (
            json!({"avatar": "nope"}),
            field("avatar", "Enter a valid URL."),
        ),
        (
            json!({"name": ["x"], "avatar": "nope"}),
            error(
                4003,
                json!({"name": ["Not a valid string."], "avatar": ["Enter a valid URL."]}),
            ),
        ),
        (
            json!({"property": null}),
            field("non_field_errors", "No data provided"),
        ),
        (
            json!({"property": [1]}),
            field(
                "non_field_errors",
                "Invalid data. Expected a dictionary, but got list.",
            ),
        ),
        (
            json!({"name": "Ok", "property": {"preferences": null}}),
            field("preferences", "This field may not be null."),
        ),
        (
            json!({"property": {"preferences": "bad"}}),
            rule("preferences must be a python dictionary/javascript object"),
        ),
        (
            json!({"preferences": [1]}),
            rule("preferences must be a python dictionary/javascript object"),
        ),
    ];
    for (data, want) in cases {
        alice
            .refused("room.modify", modify(channel, "update", data), want)
            .await;
    }
    alice.emit("room.info", json!({"room_id": channel})).await;
    assert_eq!(
        alice.recv_normalized("roominfo.dispatch").await,
        info_json(channel_json(channel, 1, &[1], &[1], false), 0)
    );
}

#[tokio::test]
async fn a_channel_update_can_open_it_to_joiners() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    alice
        .emit(
            "room.modify",
            modify(
                channel,
                "update",
                json!({"is_public": true, "group_locked": true, "preferences": {"a": 1}}),
            ),
        )
        .await;
    // is_public is a channel field, group_locked is not; top-level preferences is the alias.
    assert_eq!(
        alice.recv_normalized("roomupdate.dispatch").await,
        merged(
            channel_json(channel, 1, &[1], &[1], true),
            json!({"property": {"preferences": {"a": 1}}})
        )
    );
    bob.emit("room.join", json!({"room_id": channel})).await;
    bob.recv_dispatch("roomaddmembers.dispatch").await;
}

#[tokio::test]
async fn a_one_to_one_update_changes_only_its_preferences() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    // Either participant may (rooms.md §17 item 18); there is no name to set.
    bob.emit(
        "room.modify",
        modify(
            pair,
            "update",
            json!({"name": "Ignored", "avatar": "nope", "property": {"preferences": {"mute": true}}}),
        ),
    )
    .await;
    let want = json!({"id": pair, "participants": [user_json(1), user_json(2)],
                      "property": {"preferences": {"mute": true}},
                      "created_at": "<ts>", "updated_at": "<ts>", "type": "OneToOneChat"});
    assert_eq!(bob.recv_normalized("roomupdate.dispatch").await, want);
    assert_eq!(alice.recv_normalized("roomupdate.dispatch").await, want);
}

#[tokio::test]
async fn a_locked_group_lets_only_the_creator_and_admins_post() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    alice
        .emit(
            "room.modify",
            modify(group, "add_admin", json!({"users": [2]})),
        )
        .await;
    alice
        .emit(
            "room.modify",
            modify(group, "update", json!({"group_locked": true})),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.recv_dispatch("roomupdate.dispatch").await;
        assert_eq!(
            c.recv_dispatch("roomupdate.dispatch").await["group_locked"],
            true
        );
    }
    // rooms.md §17 item 21.
    carol
        .refused(
            "message.send",
            json!({"room_id": group, "content": "may I?"}),
            denied(texts::SEND),
        )
        .await;
    let from_alice = send_message(&mut alice, group, "we may").await;
    assert_eq!(bob.recv_dispatch("message.dispatch").await, from_alice);
    let from_bob = send_message(&mut bob, group, "we may").await;
    assert_eq!(alice.recv_dispatch("message.dispatch").await, from_bob);
    for _ in 0..2 {
        carol.recv_dispatch("message.dispatch").await;
    }
    alice
        .emit(
            "room.modify",
            modify(group, "update", json!({"group_locked": false})),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(
            c.recv_dispatch("roomupdate.dispatch").await["group_locked"],
            false
        );
    }
    send_message(&mut carol, group, "thanks").await;
}

#[tokio::test]
async fn deleting_tells_everyone_who_was_a_member_and_the_room_is_gone_afterwards() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut bob_phone, mut carol] = app.users([1, 2, 2, 3]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob, &mut bob_phone]).await;
    let message = send_message(&mut bob, group, "history").await;
    alice.recv_dispatch("message.dispatch").await;
    bob_phone.recv_dispatch("message.dispatch").await;

    alice
        .emit(
            "room.modify",
            json!({"room_id": group, "action": "delete", "data": "ignored"}),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut bob_phone] {
        assert_eq!(
            c.recv_dispatch("roomdelete.dispatch").await,
            json!({"room_id": group})
        );
    }
    carol.assert_nothing_pending().await;
    // Everything referencing the room is now 4004, and nothing of it is left.
    for (event, data) in [
        ("room.info", json!({"room_id": group})),
        ("room.leave", json!({"room_id": group})),
        (
            "room.add_members",
            json!({"room_id": group, "members": [3]}),
        ),
        ("room.modify", modify(group, "update", json!({"name": "x"}))),
        ("message.send", json!({"room_id": group, "content": "x"})),
    ] {
        alice.refused(event, data, not_found()).await;
    }
    let db = app.db().await;
    assert!(chatd::store::rooms::find(&db, group)
        .await
        .unwrap()
        .is_none());
    let id = Uuid::parse_str(message["id"].as_str().unwrap()).unwrap();
    assert!(chatd::store::messages::find_many(&db, &[id])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn only_the_creator_deletes_a_group_or_channel_and_either_participant_a_pair() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_channel(&mut alice, &[2], false, &mut [&mut bob]).await;
    alice
        .emit(
            "room.modify",
            modify(channel, "add_moderator", json!({"users": [2]})),
        )
        .await;
    alice.recv_dispatch("roomupdate.dispatch").await;
    bob.recv_dispatch("roomupdate.dispatch").await;
    // rooms.md §17 item 20: a moderator is not the creator.
    bob.refused(
        "room.modify",
        json!({"room_id": channel, "action": "delete"}),
        denied(texts::NOT_CREATOR),
    )
    .await;

    let pair = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    carol
        .emit("room.modify", json!({"room_id": pair, "action": "delete"}))
        .await;
    for c in [&mut bob, &mut carol] {
        assert_eq!(
            c.recv_dispatch("roomdelete.dispatch").await,
            json!({"room_id": pair})
        );
    }
    // The pair may start over.
    create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn the_gate_comes_before_every_check_of_the_action() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;

    // A plain member gets 4002 whatever the action says (rooms.md §12A.2 row 5).
    for data in [
        json!({"room_id": group}),
        json!({"room_id": group, "action": "lock"}),
        json!({"room_id": group, "action": "update", "data": "x"}),
        json!({"room_id": group, "action": "add_admin", "data": {"users": [2]}}),
    ] {
        bob.refused("room.modify", data, denied(texts::NOT_ADMIN))
            .await;
    }
    carol
        .refused(
            "room.modify",
            json!({"room_id": group, "action": "delete"}),
            denied(texts::NOT_CREATOR),
        )
        .await;

    let uuid = |shown: &str| rule(&format!("\u{201c}{shown}\u{201d} is not a valid UUID."));
    let cases = [
        (json!({"room_id": group}), rule("Action must be provided")),
        (
            json!({"room_id": group, "action": null}),
            rule("Action must be provided"),
        ),
        (
            json!({"room_id": group, "action": "lock"}),
            rule("Invalid action type"),
        ),
        (
            json!({"room_id": group, "action": "update"}),
            rule("data must be provided"),
        ),
        (
            json!({"room_id": group, "action": "update", "data": {}}),
            rule("data must be provided"),
        ),
        (
            json!({"room_id": group, "action": "update", "data": [1]}),
            internal(),
        ),
        (json!({"action": "update"}), not_found()),
        (json!({"room_id": null, "action": "delete"}), not_found()),
        (json!({"room_id": 5, "action": "delete"}), uuid("5")),
        (
            json!({"room_id": Uuid::new_v4(), "action": "delete"}),
            not_found(),
        ),
        (json!("x"), internal()),
    ];
    for (data, want) in cases {
        alice.refused("room.modify", data, want).await;
    }
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn caps_cannot_be_changed_after_creation() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "max_participants": 1}),
        &mut [],
    )
    .await["id"]
        .clone();
    alice
        .emit(
            "room.modify",
            json!({"room_id": group, "action": "update", "data": {"max_participants": 5}}),
        )
        .await;
    assert_eq!(
        alice.recv_dispatch("roomupdate.dispatch").await["max_participants"],
        1
    );
    alice
        .refused(
            "room.add_members",
            json!({"room_id": group, "members": [2]}),
            rule(texts::GROUP_FULL),
        )
        .await;
    bob.assert_nothing_pending().await;
}
