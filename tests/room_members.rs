//! `room.add_members` and `room.remove_members`: who is told what (new members included,
//! removed members only their own exit), who may do it, the cap (also under simultaneous
//! adds), the creator's protection, and a removal that empties the room.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, create_room, denied, group_json, internal,
    not_found, rule, texts,
};
use common::{create_one_to_one, send_message, spawn_app, Client};
use serde_json::{json, Value};
use uuid::Uuid;

/// `by` grants `permission` to `users` in `room`; `members` (all connected members, `by`
/// first) each receive the update.
async fn grant(
    members: &mut [&mut Client],
    room: Uuid,
    users: &[i64],
    permission: &str,
    add: bool,
) {
    let action = if add {
        "add_permission"
    } else {
        "remove_permission"
    };
    members[0]
        .emit(
            "room.modify",
            json!({"room_id": room, "action": action,
                   "data": {"users": users, "permission": [permission]}}),
        )
        .await;
    for m in members.iter_mut() {
        m.recv_dispatch("roomupdate.dispatch").await;
    }
}

#[tokio::test]
async fn added_members_are_told_with_everyone_else_in_request_order() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave, mut eve] = app.users([1, 2, 3, 4, 5]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    // Eve shares another room with alice: that does not make her an audience of this one.
    create_group(&mut alice, &[5], &mut [&mut eve]).await;

    alice
        .emit(
            "room.add_members",
            json!({"room_id": group, "members": [4, "3", 4]}),
        )
        .await;
    let added = json!({"room": group_json(group, 1, &[1, 2, 3, 4], &[1]),
                       "new_members": ["user4", "user3"], "added_by": "user1"});
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        assert_eq!(c.recv_normalized("roomaddmembers.dispatch").await, added);
    }
    eve.assert_nothing_pending().await;
    // The new members hear the room from now on.
    send_message(&mut bob, group, "welcome").await;
    for c in [&mut alice, &mut carol, &mut dave] {
        c.recv_dispatch("message.dispatch").await;
    }

    // Existing members: still broadcast, with nobody new (rooms.md §14 item 8).
    alice
        .emit(
            "room.add_members",
            json!({"room_id": group, "members": [2, 1]}),
        )
        .await;
    let again = json!({"room": group_json(group, 1, &[1, 2, 3, 4], &[1]),
                       "new_members": [], "added_by": "user1"});
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        assert_eq!(c.recv_normalized("roomaddmembers.dispatch").await, again);
    }
    eve.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_channel_moderator_adds_subscribers() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let channel = create_channel(&mut alice, &[], false, &mut []).await;
    alice
        .emit(
            "room.add_members",
            json!({"room_id": channel, "members": [2]}),
        )
        .await;
    let added = json!({"room": channel_json(channel, 1, &[1, 2], &[1], false),
                       "new_members": ["user2"], "added_by": "user1"});
    assert_eq!(
        alice.recv_normalized("roomaddmembers.dispatch").await,
        added
    );
    assert_eq!(bob.recv_normalized("roomaddmembers.dispatch").await, added);
}

#[tokio::test]
async fn the_cap_refuses_the_whole_add_and_existing_members_do_not_count() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;
    // rooms.md §17 item 22: cap 3 with 2 members.
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "participants": [2], "max_participants": 3}),
        &mut [&mut bob],
    )
    .await["id"]
        .clone();
    alice
        .refused(
            "room.add_members",
            json!({"room_id": group, "members": [3, 4]}),
            rule(texts::GROUP_FULL),
        )
        .await;
    bob.assert_nothing_pending().await;
    alice
        .emit(
            "room.add_members",
            json!({"room_id": group, "members": [3]}),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        let added = c.recv_dispatch("roomaddmembers.dispatch").await;
        assert_eq!(added["new_members"], json!(["user3"]));
    }
    alice
        .emit(
            "room.add_members",
            json!({"room_id": group, "members": [2, 3]}),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        let added = c.recv_dispatch("roomaddmembers.dispatch").await;
        assert_eq!(added["new_members"], json!([]));
    }
    dave.assert_nothing_pending().await;
}

#[tokio::test]
async fn adding_needs_the_role_or_the_permission_and_checks_in_the_reference_order() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, _dave] = app.users([1, 2, 3, 4]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut carol, 3).await;

    let cases = [
        // The room type is refused before membership (rooms.md §11.2 row 5).
        (
            json!({"room_id": pair, "members": [4]}),
            rule("Invalid room, Can only add or remove members from Groups/Channels"),
        ),
        (
            json!({"room_id": group, "members": "nonsense"}),
            denied(texts::ADD_MEMBERS),
        ),
        (
            json!({"room_id": Uuid::new_v4(), "members": [4]}),
            not_found(),
        ),
        (json!({"members": [4]}), rule("Invalid room_id type")),
        (json!([group]), internal()),
    ];
    for (data, want) in cases {
        bob.refused("room.add_members", data, want).await;
    }
    bob.refused(
        "room.remove_members",
        json!({"room_id": pair, "members": [1]}),
        rule("Invalid room, Can only add or remove members from Groups/Channels"),
    )
    .await;

    // After the gate: the member list, then every id must be a user, then the cap.
    for (members, want) in [
        (json!("34"), rule("User ids must be a list/array")),
        (json!(null), rule("User ids must be a list/array")),
        (json!([4, 999]), not_found()),
        (json!([4, "dave"]), not_found()),
        (json!([4, {"id": 4}]), not_found()),
    ] {
        alice
            .refused(
                "room.add_members",
                json!({"room_id": group, "members": members}),
                want,
            )
            .await;
    }
    alice
        .refused(
            "room.add_members",
            json!({"room_id": group}),
            rule("User ids must be a list/array"),
        )
        .await;
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn permission_holders_add_or_remove_as_granted() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;

    // rooms.md §17 item 17.
    grant(
        &mut [&mut alice, &mut bob, &mut carol],
        group,
        &[2],
        "can_add_new_participants",
        true,
    )
    .await;
    bob.emit(
        "room.add_members",
        json!({"room_id": group, "members": [4]}),
    )
    .await;
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        assert_eq!(
            c.recv_dispatch("roomaddmembers.dispatch").await["added_by"],
            "user2"
        );
    }
    bob.refused(
        "room.remove_members",
        json!({"room_id": group, "members": [4]}),
        denied(texts::REMOVE_MEMBERS),
    )
    .await;
    grant(
        &mut [&mut alice, &mut bob, &mut carol, &mut dave],
        group,
        &[2],
        "can_add_new_participants",
        false,
    )
    .await;
    bob.refused(
        "room.add_members",
        json!({"room_id": group, "members": [5]}),
        denied(texts::ADD_MEMBERS),
    )
    .await;
    // A holder of the remove permission may remove admins, never the creator.
    grant(
        &mut [&mut alice, &mut bob, &mut carol, &mut dave],
        group,
        &[3],
        "can_remove_participants",
        true,
    )
    .await;
    carol
        .emit(
            "room.remove_members",
            json!({"room_id": group, "members": [1, 4]}),
        )
        .await;
    dave.recv_dispatch("roomexit.dispatch").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        let removed = c.recv_normalized("roomremovemembers.dispatch").await;
        assert_eq!(removed["removed_members"], json!(["user4"]));
        assert_eq!(removed["room"], group_json(group, 1, &[1, 2, 3], &[1]));
    }
    dave.assert_nothing_pending().await;
}

#[tokio::test]
async fn removed_members_hear_only_their_exit_and_the_rest_hear_the_removal() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave, mut eve] = app.users([1, 2, 3, 4, 5]).await;
    let group = create_group(
        &mut alice,
        &[2, 3, 4],
        &mut [&mut bob, &mut carol, &mut dave],
    )
    .await;

    alice
        .emit(
            "room.remove_members",
            json!({"room_id": group, "members": [4, 3, 5, 4]}),
        )
        .await;
    let after = group_json(group, 1, &[1, 2], &[1]);
    let exit = json!({"room": after, "message": "You have been removed by user1"});
    assert_eq!(carol.recv_normalized("roomexit.dispatch").await, exit);
    assert_eq!(dave.recv_normalized("roomexit.dispatch").await, exit);
    // Non-members (eve) are skipped silently; request order is kept.
    let removed = json!({"room": after, "removed_members": ["user4", "user3"],
                         "removed_by": "user1"});
    assert_eq!(
        alice.recv_normalized("roomremovemembers.dispatch").await,
        removed
    );
    assert_eq!(
        bob.recv_normalized("roomremovemembers.dispatch").await,
        removed
    );

    send_message(&mut bob, group, "just us").await;
    alice.recv_dispatch("message.dispatch").await;
    for c in [&mut carol, &mut dave, &mut eve] {
        c.assert_nothing_pending().await;
    }
    carol
        .refused(
            "message.send",
            json!({"room_id": group, "content": "x"}),
            denied(texts::SEND),
        )
        .await;
}

#[tokio::test]
async fn only_the_creator_removes_the_creator() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    alice
        .emit(
            "room.modify",
            json!({"room_id": group, "action": "add_admin", "data": {"users": [2]}}),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.recv_dispatch("roomupdate.dispatch").await;
    }

    // rooms.md §17 item 16: an admin cannot remove the creator; the broadcast still goes.
    bob.emit(
        "room.remove_members",
        json!({"room_id": group, "members": [1, "1"]}),
    )
    .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        let removed = c.recv_dispatch("roomremovemembers.dispatch").await;
        assert_eq!(removed["removed_members"], json!([]));
        assert_eq!(removed["room"]["participants"][0]["id"], 1);
    }
    // A plain member cannot remove themself this way; the creator can.
    carol
        .refused(
            "room.remove_members",
            json!({"room_id": group, "members": [3]}),
            denied(texts::REMOVE_MEMBERS),
        )
        .await;
    alice
        .emit(
            "room.remove_members",
            json!({"room_id": group, "members": [1]}),
        )
        .await;
    let exit = alice.recv_normalized("roomexit.dispatch").await;
    assert_eq!(exit["message"], "You have been removed by user1");
    for c in [&mut bob, &mut carol] {
        let removed = c.recv_normalized("roomremovemembers.dispatch").await;
        assert_eq!(removed["removed_members"], json!(["user1"]));
        assert_eq!(removed["room"], group_json(group, 1, &[2, 3], &[2]));
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_removal_that_empties_the_room_deletes_it_and_tells_each_removed_user() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_channel(&mut alice, &[2], false, &mut [&mut bob]).await;
    send_message(&mut alice, channel, "soon gone").await;
    bob.recv_dispatch("message.dispatch").await;

    // DECISIONS 11: roomdelete to each removed user, nothing else, no 4006.
    alice
        .emit(
            "room.remove_members",
            json!({"room_id": channel, "members": [2, 1]}),
        )
        .await;
    for c in [&mut alice, &mut bob] {
        assert_eq!(
            c.recv_dispatch("roomdelete.dispatch").await,
            json!({"room_id": channel})
        );
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
    carol
        .refused("room.info", json!({"room_id": channel}), not_found())
        .await;
    assert!(chatd::store::rooms::find(&app.db().await, channel)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn removal_drops_the_removed_users_pending_notifications_for_the_room() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    bob.close().await;
    carol.close().await;
    let message = send_message(&mut alice, group, "you may miss this").await;
    alice
        .emit(
            "room.remove_members",
            json!({"room_id": group, "members": [2]}),
        )
        .await;
    alice.recv_dispatch("roomremovemembers.dispatch").await;

    let (_bob, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
    let (_carol, pending) = app.connect(3).await;
    assert_eq!(pending[group.to_string()][0]["message"], message);
}

#[tokio::test]
async fn simultaneous_adds_never_exceed_the_cap() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "participants": [2, 3], "max_participants": 6}),
        &mut [&mut bob, &mut carol],
    )
    .await["id"]
        .clone();
    alice
        .emit(
            "room.modify",
            json!({"room_id": group, "action": "add_admin", "data": {"users": [2, 3]}}),
        )
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.recv_dispatch("roomupdate.dispatch").await;
    }
    for id in 10..20 {
        app.user(id).await.close().await;
    }

    // Three admins each add two different users at once; three seats are left.
    let batches = [vec![10, 11], vec![12, 13], vec![14, 15]];
    let mut admins = [alice, bob, carol];
    for (admin, batch) in admins.iter_mut().zip(&batches) {
        admin
            .emit(
                "room.add_members",
                json!({"room_id": group, "members": batch}),
            )
            .await;
    }
    // Each admin's own answer comes before its heartbeat's answer.
    let mut succeeded = Vec::new();
    for (admin, batch) in admins.iter_mut().zip(&batches) {
        admin.emit("session.heartbeat", json!({})).await;
        let mut frames: Vec<Value> = Vec::new();
        loop {
            let frame = admin.recv().await;
            if frame == json!({"status": "success"}) {
                break;
            }
            frames.push(frame);
        }
        let names: Vec<Value> = batch.iter().map(|id| json!(format!("user{id}"))).collect();
        let mine = frames
            .iter()
            .any(|f| f["data"]["new_members"] == json!(names));
        let refused = frames.contains(&rule(texts::GROUP_FULL));
        assert!(mine != refused, "exactly one answer: {frames:?}");
        if mine {
            succeeded.extend(batch);
        }
    }
    assert_eq!(succeeded.len(), 2, "one batch of two fits, not two");

    let id = Uuid::parse_str(group.as_str().unwrap()).unwrap();
    let stored = chatd::store::rooms::member_ids(&app.db().await, id)
        .await
        .unwrap();
    let mut want = vec![1, 2, 3];
    want.extend(&succeeded);
    want.sort();
    assert_eq!(stored, want);
    admins[0].emit("room.info", json!({"room_id": group})).await;
    loop {
        let frame = admins[0].recv().await;
        if frame["eventType"] == "roominfo.dispatch" {
            assert_eq!(common::rooms::ids_of(&frame["data"]["participants"]), want);
            break;
        }
    }
}
