//! `room.modify` role and permission actions: admins (GroupChat), moderators (Channel) and
//! object permissions, granted and revoked with the role, never touching the creator.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, denied, group_json, internal, rule, texts,
};
use common::{create_one_to_one, send_message, spawn_app, user_json, Client};
use serde_json::{json, Value};
use uuid::Uuid;

/// `members[0]` runs `action` with `data`; every client in `members` receives the update,
/// which is returned normalised.
async fn modify(members: &mut [&mut Client], room: Uuid, action: &str, data: Value) -> Value {
    members[0]
        .emit(
            "room.modify",
            json!({"room_id": room, "action": action, "data": data}),
        )
        .await;
    let update = members[0].recv_normalized("roomupdate.dispatch").await;
    for m in members[1..].iter_mut() {
        assert_eq!(m.recv_normalized("roomupdate.dispatch").await, update);
    }
    update
}

#[tokio::test]
async fn an_admin_gets_the_role_and_its_rights_and_any_admin_manages_admins() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;

    // rooms.md §17 item 19; non-members and unknown ids are ignored.
    let update = modify(
        &mut [&mut alice, &mut bob, &mut carol],
        group,
        "add_admin",
        json!({"users": [2, 4, 999]}),
    )
    .await;
    assert_eq!(update, group_json(group, 1, &[1, 2, 3], &[1, 2]));
    dave.assert_nothing_pending().await;

    // The new admin adds members and manages admins.
    bob.emit(
        "room.add_members",
        json!({"room_id": group, "members": [4]}),
    )
    .await;
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        c.recv_dispatch("roomaddmembers.dispatch").await;
    }
    let update = modify(
        &mut [&mut bob, &mut alice, &mut carol, &mut dave],
        group,
        "add_admin",
        json!({"users": ["3"]}),
    )
    .await;
    assert_eq!(
        update["admins"],
        json!([user_json(1), user_json(2), user_json(3)])
    );
    // Demoted, a former admin has no rights left.
    let update = modify(
        &mut [&mut carol, &mut alice, &mut bob, &mut dave],
        group,
        "remove_admin",
        json!({"users": [2]}),
    )
    .await;
    assert_eq!(update["admins"], json!([user_json(1), user_json(3)]));
    assert_eq!(update["participants"].as_array().unwrap().len(), 4);
    bob.refused(
        "room.add_members",
        json!({"room_id": group, "members": [5]}),
        denied(texts::ADD_MEMBERS),
    )
    .await;
    bob.refused(
        "room.modify",
        json!({"room_id": group, "action": "add_admin", "data": {"users": [2]}}),
        denied(texts::NOT_ADMIN),
    )
    .await;
}

#[tokio::test]
async fn nobody_can_demote_the_creator_even_with_a_string_id() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    modify(
        &mut [&mut alice, &mut bob],
        group,
        "add_admin",
        json!({"users": [2]}),
    )
    .await;
    // DECISIONS 18: numeric comparison; the broadcast still goes (rooms.md §14 item 8).
    for users in [json!([1]), json!(["1"]), json!([" 1 "])] {
        let update = modify(
            &mut [&mut bob, &mut alice],
            group,
            "remove_admin",
            json!({ "users": users }),
        )
        .await;
        assert_eq!(update["admins"], json!([user_json(1), user_json(2)]));
    }
    let held = chatd::store::rooms::load(&app.db().await, group)
        .await
        .unwrap()
        .unwrap();
    assert!(held.is_manager(1));
    assert_eq!(held.permissions.iter().filter(|(u, _)| *u == 1).count(), 2);
}

#[tokio::test]
async fn moderators_get_the_three_channel_permissions_and_lose_them_with_the_role() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_channel(&mut alice, &[2, 3], false, &mut [&mut bob, &mut carol]).await;
    bob.refused(
        "message.send",
        json!({"room_id": channel, "content": "x"}),
        denied(texts::SEND),
    )
    .await;

    let update = modify(
        &mut [&mut alice, &mut bob, &mut carol],
        channel,
        "add_moderator",
        json!({"users": [2]}),
    )
    .await;
    assert_eq!(update, channel_json(channel, 1, &[1, 2, 3], &[1, 2], false));
    let post = send_message(&mut bob, channel, "moderated").await;
    assert_eq!(alice.recv_dispatch("message.dispatch").await, post);
    carol.recv_dispatch("message.dispatch").await;

    let update = modify(
        &mut [&mut bob, &mut alice, &mut carol],
        channel,
        "remove_moderator",
        json!({"users": [2, 1]}),
    )
    .await;
    assert_eq!(update["moderators"], json!([user_json(1)]));
    bob.refused(
        "message.send",
        json!({"room_id": channel, "content": "x"}),
        denied(texts::SEND),
    )
    .await;
}

#[tokio::test]
async fn role_actions_check_their_users_and_the_room_type() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;
    let group = create_group(&mut alice, &[], &mut []).await;
    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    let cases = [
        (
            group,
            "add_admin",
            json!({"users": []}),
            rule("User ids must be provided"),
        ),
        (
            group,
            "add_admin",
            json!({"user": [2]}),
            rule("User ids must be provided"),
        ),
        (
            group,
            "remove_admin",
            json!({"users": 2}),
            rule("User ids must be a list/array"),
        ),
        (group, "add_admin", json!({"users": ["bob"]}), internal()),
        (group, "add_admin", json!({"users": [[2]]}), internal()),
        (
            channel,
            "add_admin",
            json!({"users": [2]}),
            rule("Room should be a group chat to modify the admins"),
        ),
        (
            group,
            "add_moderator",
            json!({"users": [2]}),
            rule("Room should be a channel to modify the moderators"),
        ),
    ];
    for (room, action, data, want) in cases {
        alice
            .refused(
                "room.modify",
                json!({"room_id": room, "action": action, "data": data}),
                want,
            )
            .await;
    }
}

#[tokio::test]
async fn role_and_permission_actions_on_a_pair_change_nothing_but_are_broadcast() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    // rooms.md §12A.5: no validation at all once the data is non-empty.
    for (action, data) in [
        ("add_admin", json!({"users": [2]})),
        ("add_permission", json!({"users": "junk"})),
        ("remove_moderator", json!("anything")),
    ] {
        let update = modify(&mut [&mut alice, &mut bob], pair, action, data).await;
        assert_eq!(update["participants"], json!([user_json(1), user_json(2)]));
        assert!(update.get("admins").is_none());
    }
    alice
        .refused(
            "room.modify",
            json!({"room_id": pair, "action": "add_admin", "data": {}}),
            rule("data must be provided"),
        )
        .await;
}

#[tokio::test]
async fn a_granted_permission_lets_a_subscriber_post_until_it_is_revoked() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let channel = create_channel(&mut alice, &[2], false, &mut [&mut bob]).await;

    // rooms.md §17 item 21; `permissions` is accepted as an alias (DECISIONS 13).
    let update = modify(
        &mut [&mut alice, &mut bob],
        channel,
        "add_permission",
        json!({"users": [2], "permissions": ["can_send_messages"]}),
    )
    .await;
    // Permissions are never shown.
    assert_eq!(update, channel_json(channel, 1, &[1, 2], &[1], false));
    let post = send_message(&mut bob, channel, "allowed").await;
    assert_eq!(alice.recv_dispatch("message.dispatch").await, post);

    modify(
        &mut [&mut alice, &mut bob],
        channel,
        "remove_permission",
        json!({"users": [2], "permission": ["can_send_messages"]}),
    )
    .await;
    bob.refused(
        "message.send",
        json!({"room_id": channel, "content": "x"}),
        denied(texts::SEND),
    )
    .await;
}

#[tokio::test]
async fn removing_a_permission_from_an_admin_leaves_the_role_acting() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    modify(
        &mut [&mut alice, &mut bob],
        group,
        "add_admin",
        json!({"users": [2]}),
    )
    .await;
    modify(
        &mut [&mut alice, &mut bob],
        group,
        "remove_permission",
        json!({"users": [2, 1], "permission": ["can_add_new_participants"]}),
    )
    .await;
    bob.emit(
        "room.add_members",
        json!({"room_id": group, "members": [3]}),
    )
    .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.recv_dispatch("roomaddmembers.dispatch").await;
    }
    // The creator was excluded from the revocation.
    let held = chatd::store::rooms::load(&app.db().await, group)
        .await
        .unwrap()
        .unwrap();
    let mut of_alice: Vec<&str> = held
        .permissions
        .iter()
        .filter(|(u, _)| *u == 1)
        .map(|(_, p)| p.as_str())
        .collect();
    of_alice.sort();
    assert_eq!(
        of_alice,
        ["can_add_new_participants", "can_remove_participants"]
    );
    let of_bob: Vec<&str> = held
        .permissions
        .iter()
        .filter(|(u, _)| *u == 2)
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(of_bob, ["can_remove_participants"]);
}

#[tokio::test]
async fn permission_actions_name_the_first_invalid_codename() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;
    let group = create_group(&mut alice, &[], &mut []).await;
    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    let cases = [
        (
            group,
            json!({"users": [1]}),
            rule("Permission to add or remove should be passed"),
        ),
        (
            group,
            json!({"users": [1], "permission": []}),
            rule("Permission to add or remove should be passed"),
        ),
        (
            channel,
            json!({"users": [1], "permission": "can_send_messages"}),
            rule("Permission must be a list"),
        ),
        (
            group,
            json!({"users": [1], "permission": ["can_add_new_participants", "can_send_messages"]}),
            rule("Permission 'can_send_messages' is not a valid group chat permission"),
        ),
        (
            channel,
            json!({"users": [1], "permission": ["can_fly", "can_add_new_participants"]}),
            rule("Permission 'can_fly' is not a valid channel permission"),
        ),
        (
            channel,
            json!({"users": [1], "permission": [{"x": 1}]}),
            internal(),
        ),
    ];
    for (room, data, want) in cases {
        alice
            .refused(
                "room.modify",
                json!({"room_id": room, "action": "add_permission", "data": data}),
                want,
            )
            .await;
    }
}
