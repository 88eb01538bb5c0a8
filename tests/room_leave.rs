//! `room.leave`: the leaver hears `roomexit`, the others `roomremovemembers`; role, permissions
//! and pending notifications go with the membership; the last member out deletes the room;
//! and a send racing a leave is either before it or refused.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, denied, group_json, info_json, internal, not_found,
    rule, texts,
};
use common::{create_one_to_one, send_message, spawn_app, Client};
use serde_json::{json, Value};
use uuid::Uuid;

/// `by` (an admin) runs `room.modify` `action` on `room` with `data`; every client in
/// `members` (`by` included) receives the `roomupdate.dispatch`.
async fn modify(by: usize, members: &mut [&mut Client], room: Uuid, action: &str, data: Value) {
    members[by]
        .emit(
            "room.modify",
            json!({"room_id": room, "action": action, "data": data}),
        )
        .await;
    for m in members.iter_mut() {
        m.recv_dispatch("roomupdate.dispatch").await;
    }
}

#[tokio::test]
async fn the_leaver_hears_roomexit_and_the_others_roomremovemembers() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut carol_phone, mut dave] =
        app.users([1, 2, 3, 3, 4]).await;
    let group = create_group(
        &mut alice,
        &[2, 3],
        &mut [&mut bob, &mut carol, &mut carol_phone],
    )
    .await;

    carol.emit("room.leave", json!({"room_id": group})).await;
    let after = group_json(group, 1, &[1, 2], &[1]);
    let exit = json!({"room": after, "message": "You left Team"});
    assert_eq!(carol.recv_normalized("roomexit.dispatch").await, exit);
    assert_eq!(carol_phone.recv_normalized("roomexit.dispatch").await, exit);
    let removed = json!({"room": after, "removed_members": ["user3"], "removed_by": "self"});
    assert_eq!(
        alice.recv_normalized("roomremovemembers.dispatch").await,
        removed
    );
    assert_eq!(
        bob.recv_normalized("roomremovemembers.dispatch").await,
        removed
    );

    // Carol is out: no more of the room's frames, no access.
    send_message(&mut alice, group, "after carol").await;
    bob.recv_dispatch("message.dispatch").await;
    carol
        .refused(
            "room.info",
            json!({"room_id": group}),
            denied(texts::ACCESS_ROOM),
        )
        .await;
    carol
        .refused(
            "room.leave",
            json!({"room_id": group}),
            denied(texts::ACCESS_ROOM),
        )
        .await;
    carol.emit("room.list", json!({})).await;
    assert_eq!(carol.recv_dispatch("roomlist.dispatch").await, json!([]));
    carol_phone.recv_dispatch("roomlist.dispatch").await;
    carol_phone.assert_nothing_pending().await;
    dave.assert_nothing_pending().await;
}

#[tokio::test]
async fn leaving_a_channel_strips_the_role_and_permissions_for_good() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_channel(&mut alice, &[2, 3], false, &mut [&mut bob, &mut carol]).await;
    modify(
        0,
        &mut [&mut alice, &mut bob, &mut carol],
        channel,
        "add_moderator",
        json!({"users": [2]}),
    )
    .await;
    modify(
        0,
        &mut [&mut alice, &mut bob, &mut carol],
        channel,
        "add_permission",
        json!({"users": [3], "permission": ["can_send_messages"]}),
    )
    .await;

    bob.emit("room.leave", json!({"room_id": channel})).await;
    bob.recv_dispatch("roomexit.dispatch").await;
    carol.recv_dispatch("roomremovemembers.dispatch").await;
    carol.emit("room.leave", json!({"room_id": channel})).await;
    carol.recv_dispatch("roomexit.dispatch").await;
    for name in ["user2", "user3"] {
        let removed = alice.recv_dispatch("roomremovemembers.dispatch").await;
        assert_eq!(removed["removed_members"], json!([name]));
    }
    // Re-added, both are plain subscribers again (rooms.md §17 item 21).
    alice
        .emit(
            "room.add_members",
            json!({"room_id": channel, "members": [2, 3]}),
        )
        .await;
    let added = alice.recv_normalized("roomaddmembers.dispatch").await;
    assert_eq!(
        added["room"],
        channel_json(channel, 1, &[1, 2, 3], &[1], false)
    );
    bob.recv_dispatch("roomaddmembers.dispatch").await;
    carol.recv_dispatch("roomaddmembers.dispatch").await;
    for c in [&mut bob, &mut carol] {
        c.refused(
            "message.send",
            json!({"room_id": channel, "content": "x"}),
            denied(texts::SEND),
        )
        .await;
    }
    bob.refused(
        "room.add_members",
        json!({"room_id": channel, "members": [4]}),
        denied(texts::ADD_MEMBERS),
    )
    .await;
    let stored = chatd::store::rooms::load(&app.db().await, channel)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.permissions.iter().all(|(u, _)| *u == 1));
}

#[tokio::test]
async fn a_creator_who_left_keeps_the_creator_field_and_regains_rights_when_re_added() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    modify(
        0,
        &mut [&mut alice, &mut bob, &mut carol],
        group,
        "add_admin",
        json!({"users": [2]}),
    )
    .await;

    alice.emit("room.leave", json!({"room_id": group})).await;
    let exit = alice.recv_normalized("roomexit.dispatch").await;
    assert_eq!(
        exit["room"],
        group_json(group, 1, &[2, 3], &[2]),
        "the creator is still shown"
    );
    bob.recv_dispatch("roomremovemembers.dispatch").await;
    carol.recv_dispatch("roomremovemembers.dispatch").await;
    alice
        .refused(
            "room.modify",
            json!({"room_id": group, "action": "delete"}),
            denied(texts::NOT_CREATOR),
        )
        .await;

    bob.emit(
        "room.add_members",
        json!({"room_id": group, "members": [1]}),
    )
    .await;
    let added = alice.recv_normalized("roomaddmembers.dispatch").await;
    // Not an admin again (rooms.md §14 item 5), but the creator's rights are back.
    assert_eq!(added["room"], group_json(group, 1, &[1, 2, 3], &[2]));
    bob.recv_dispatch("roomaddmembers.dispatch").await;
    carol.recv_dispatch("roomaddmembers.dispatch").await;
    alice
        .emit("room.modify", json!({"room_id": group, "action": "delete"}))
        .await;
    for c in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(
            c.recv_dispatch("roomdelete.dispatch").await,
            json!({"room_id": group})
        );
    }
}

#[tokio::test]
async fn the_last_member_leaving_deletes_the_room_and_only_the_leaver_hears_of_it() {
    let app = spawn_app().await;
    let [mut alice, mut alice_tablet, mut bob] = app.users([1, 1, 2]).await;
    let channel = create_channel(&mut alice, &[], true, &mut [&mut alice_tablet]).await;
    send_message(&mut alice, channel, "alone").await;
    alice_tablet.recv_dispatch("message.dispatch").await;

    alice.emit("room.leave", json!({"room_id": channel})).await;
    for c in [&mut alice, &mut alice_tablet] {
        assert_eq!(
            c.recv_dispatch("roomdelete.dispatch").await,
            json!({"room_id": channel})
        );
    }
    alice.emit("room.list", json!({})).await;
    assert_eq!(alice.recv_dispatch("roomlist.dispatch").await, json!([]));
    alice_tablet.recv_dispatch("roomlist.dispatch").await;
    for event in ["room.info", "room.leave", "room.join"] {
        bob.refused(event, json!({"room_id": channel}), not_found())
            .await;
    }
    assert!(chatd::store::rooms::find(&app.db().await, channel)
        .await
        .unwrap()
        .is_none());
    alice_tablet.assert_nothing_pending().await;
}

#[tokio::test]
async fn one_to_one_chats_cannot_be_left_and_bad_room_ids_are_refused() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    alice
        .refused(
            "room.leave",
            json!({"room_id": pair}),
            rule("You can only leave a channel/group chat"),
        )
        .await;
    // Membership is checked first.
    let cases = [
        (json!({"room_id": pair}), denied(texts::ACCESS_ROOM)),
        (json!({"room_id": Uuid::new_v4()}), not_found()),
        (json!({}), rule("Invalid room_id type")),
        (json!({"room_id": false}), rule("Invalid room_id type")),
        (
            json!({"room_id": "x"}),
            rule("\u{201c}x\u{201d} is not a valid UUID."),
        ),
        (json!(7), internal()),
    ];
    for (data, want) in cases {
        carol.refused("room.leave", data, want).await;
    }
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn leaving_drops_the_leavers_pending_notifications_for_that_room_only() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    bob.close().await;
    carol.close().await;
    let in_group = send_message(&mut alice, group, "group news").await;
    send_message(&mut alice, pair, "just for bob").await;

    let (mut bob, pending) = app.connect(2).await;
    assert_eq!(pending.as_object().unwrap().len(), 2);
    bob.emit("room.leave", json!({"room_id": group})).await;
    bob.recv_dispatch("roomexit.dispatch").await;
    alice.recv_dispatch("roomremovemembers.dispatch").await;

    // DECISIONS 26: nothing from the group is owed to bob any more; the rest is.
    let (_bob, pending) = app.connect(2).await;
    assert_eq!(
        pending.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&pair.to_string()]
    );
    let (_carol, pending) = app.connect(3).await;
    assert_eq!(pending[group.to_string()][0]["message"], in_group);
}

/// What one connection of the leaver saw: frames up to and including its `roomexit`.
async fn until_exit(client: &mut Client) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = client.recv().await;
        let done = frame["eventType"] == "roomexit.dispatch";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

#[tokio::test]
async fn messages_racing_a_leave_reach_the_leaver_only_if_they_committed_first() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let group = create_group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol]).await;
    carol.close().await;

    // Bob leaves as soon as the first of alice's burst reaches him: the rest race his leave.
    const SENT: usize = 5;
    for i in 0..SENT {
        alice
            .emit(
                "message.send",
                json!({"room_id": group, "content": i.to_string()}),
            )
            .await;
    }
    let first = bob.recv().await;
    bob.emit("room.leave", json!({"room_id": group})).await;

    // Bob got the messages committed before his leave, then his exit; alice saw the same
    // messages, in the same order, before the removal.
    let mut bob_saw = vec![first];
    bob_saw.extend(until_exit(&mut bob).await);
    let before_leave: Vec<&Value> = bob_saw[..bob_saw.len() - 1]
        .iter()
        .map(|f| &f["data"])
        .collect();
    let mut alice_saw = Vec::new();
    for _ in 0..=SENT {
        alice_saw.push(alice.recv().await);
    }
    let removal = alice_saw
        .iter()
        .position(|f| f["eventType"] == "roomremovemembers.dispatch")
        .expect("alice hears of the leave");
    assert_eq!(removal, before_leave.len());
    let alice_before: Vec<&Value> = alice_saw[..removal].iter().map(|f| &f["data"]).collect();
    assert_eq!(alice_before, before_leave);

    // Bob is owed nothing from the room (DECISIONS 26), carol every message.
    let (_bob, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
    let (_carol, pending) = app.connect(3).await;
    assert_eq!(pending[group.to_string()].as_array().unwrap().len(), SENT);
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_leaver_posting_while_leaving_either_posts_first_or_is_refused() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut bob_phone] = app.users([1, 2, 2]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob, &mut bob_phone]).await;

    bob.emit(
        "message.send",
        json!({"room_id": group, "content": "last words"}),
    )
    .await;
    bob_phone
        .emit("room.leave", json!({"room_id": group}))
        .await;

    let phone_saw = until_exit(&mut bob_phone).await;
    let first = alice.recv().await;
    let posted = phone_saw.len() == 2;
    if posted {
        assert_eq!(first["eventType"], "message.dispatch");
        assert_eq!(phone_saw[0]["data"], first["data"]);
        alice.recv_dispatch("roomremovemembers.dispatch").await;
        // bob's sending connection: its message, then the exit.
        assert_eq!(bob.recv_dispatch("message.dispatch").await, first["data"]);
        bob.recv_dispatch("roomexit.dispatch").await;
    } else {
        assert_eq!(first["eventType"], "roomremovemembers.dispatch");
        // The refusal and the exit, in whichever order they reached that connection.
        let frames = [bob.recv().await, bob.recv().await];
        assert!(frames.contains(&denied(texts::SEND)), "{frames:?}");
        assert!(frames.iter().any(|f| f["eventType"] == "roomexit.dispatch"));
    }
    alice.emit("room.info", json!({"room_id": group})).await;
    let info = alice.recv_normalized("roominfo.dispatch").await;
    // Bob's message, if it was posted, is unread by alice.
    assert_eq!(
        info,
        info_json(group_json(group, 1, &[1], &[1]), u64::from(posted))
    );
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list[0]["last_message"]["id"].is_null(), !posted);
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}
