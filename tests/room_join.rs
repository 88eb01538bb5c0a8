//! `room.join`: public channels take anyone, up to their cap, also under a crowd of
//! simultaneous joiners; everything else is refused with the reference's texts.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, create_room, denied, internal, not_found, rule,
    texts,
};
use common::{create_one_to_one, send_message, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn joining_a_public_channel_tells_every_member_including_the_joiner() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut carol_phone, mut dave] =
        app.users([1, 2, 3, 3, 4]).await;
    let channel = create_channel(&mut alice, &[2], true, &mut [&mut bob]).await;

    carol.emit("room.join", json!({"room_id": channel})).await;
    let joined = json!({"room": channel_json(channel, 1, &[1, 2, 3], &[1], true),
                        "new_members": ["user3"], "added_by": "self"});
    for c in [&mut carol, &mut carol_phone, &mut alice, &mut bob] {
        assert_eq!(c.recv_normalized("roomaddmembers.dispatch").await, joined);
    }
    dave.assert_nothing_pending().await;

    // Carol now hears the channel, but a plain subscriber may not post.
    let post = send_message(&mut alice, channel, "welcome").await;
    assert_eq!(carol.recv_dispatch("message.dispatch").await, post);
    carol_phone.recv_dispatch("message.dispatch").await;
    bob.recv_dispatch("message.dispatch").await;
    carol
        .refused(
            "message.send",
            json!({"room_id": channel, "content": "hi"}),
            denied(texts::SEND),
        )
        .await;
    dave.assert_nothing_pending().await;
}

#[tokio::test]
async fn joining_again_changes_nothing_but_is_announced_again() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let channel = create_channel(&mut alice, &[2], true, &mut [&mut bob]).await;

    // DECISIONS 14: faithful re-broadcast, no error; the creator may "join" too.
    for (id, name) in [(2, "user2"), (1, "user1")] {
        let joiner = if id == 2 { &mut bob } else { &mut alice };
        joiner.emit("room.join", json!({"room_id": channel})).await;
        let want = json!({"room": channel_json(channel, 1, &[1, 2], &[1], true),
                          "new_members": [name], "added_by": "self"});
        assert_eq!(alice.recv_normalized("roomaddmembers.dispatch").await, want);
        assert_eq!(bob.recv_normalized("roomaddmembers.dispatch").await, want);
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn private_channels_groups_and_one_to_one_chats_cannot_be_joined() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let private = create_channel(&mut alice, &[], false, &mut []).await;
    let group = create_group(&mut alice, &[2], &mut [&mut bob]).await;
    let pair = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    carol
        .refused(
            "room.join",
            json!({"room_id": private}),
            rule("Channel is private, ask a moderator to add you to the channel"),
        )
        .await;
    // Also for members, and regardless of join_approval_required.
    for joiner in [&mut carol, &mut bob] {
        joiner
            .refused(
                "room.join",
                json!({"room_id": group}),
                rule("Ask an admin to add you to the group"),
            )
            .await;
    }
    for joiner in [&mut carol, &mut bob] {
        joiner
            .refused(
                "room.join",
                json!({"room_id": pair}),
                rule("You can only join a channel/group chat"),
            )
            .await;
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn join_takes_any_room_id_and_answers_as_the_reference() {
    let app = spawn_app().await;
    let [mut carol] = app.users([3]).await;
    let uuid = |shown: &str| rule(&format!("\u{201c}{shown}\u{201d} is not a valid UUID."));
    let cases: [(Value, Value); 10] = [
        (json!({}), not_found()),
        (json!({"room_id": null}), not_found()),
        (json!({"room_id": true}), not_found()),
        (json!({"room_id": uuid::Uuid::new_v4()}), not_found()),
        (json!({"room_id": "abc"}), uuid("abc")),
        (json!({"room_id": [1]}), uuid("[1]")),
        (json!({"room_id": {"a": 1}}), uuid("{'a': 1}")),
        (json!({"room_id": 1.5}), uuid("1.5")),
        // DECISIONS 7: an integer is never a room id.
        (json!({"room_id": 12}), uuid("12")),
        (json!(null), internal()),
    ];
    for (data, want) in cases {
        carol.refused("room.join", data, want).await;
    }
}

#[tokio::test]
async fn a_full_channel_refuses_newcomers_but_not_its_subscribers() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "subscribers": [2],
               "extra_fields": {"is_public": true, "max_subscribers": 2}}),
        &mut [&mut bob],
    )
    .await["id"]
        .clone();

    carol
        .refused(
            "room.join",
            json!({"room_id": channel}),
            rule(texts::CHANNEL_FULL),
        )
        .await;
    bob.emit("room.join", json!({"room_id": channel})).await;
    bob.recv_dispatch("roomaddmembers.dispatch").await;
    alice.recv_dispatch("roomaddmembers.dispatch").await;
    carol.assert_nothing_pending().await;
}

#[tokio::test]
async fn twenty_simultaneous_joiners_never_exceed_the_cap() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;
    let channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News",
               "extra_fields": {"is_public": true, "max_subscribers": 5}}),
        &mut [],
    )
    .await["id"]
        .clone();
    let mut joiners = Vec::new();
    for id in 100..120 {
        joiners.push((id, app.user(id).await));
    }
    for (_, joiner) in joiners.iter_mut() {
        joiner.emit("room.join", json!({"room_id": channel})).await;
    }
    // A joiner's first frame decides: its own join announced, or the cap.
    let mut admitted = Vec::new();
    for (id, joiner) in joiners.iter_mut() {
        let frame = joiner.recv().await;
        if frame == rule(texts::CHANNEL_FULL) {
            continue;
        }
        assert_eq!(frame["eventType"], "roomaddmembers.dispatch", "{frame}");
        assert_eq!(frame["data"]["new_members"], json!([format!("user{id}")]));
        admitted.push(*id);
    }
    assert_eq!(admitted.len(), 4, "exactly four join after the creator");
    for _ in 0..4 {
        alice.recv_dispatch("roomaddmembers.dispatch").await;
    }

    // The actor's state (the detail) and the database agree.
    alice.emit("room.info", json!({"room_id": channel})).await;
    let info = alice.recv_dispatch("roominfo.dispatch").await;
    let mut subscribers = common::rooms::ids_of(&info["subscribers"]);
    let mut want = admitted.clone();
    want.push(1);
    want.sort();
    assert_eq!(subscribers, want);
    let id = uuid::Uuid::parse_str(channel.as_str().unwrap()).unwrap();
    let mut stored = chatd::store::rooms::member_ids(&app.db().await, id)
        .await
        .unwrap();
    stored.sort();
    subscribers.sort();
    assert_eq!(stored, subscribers);
}
