//! Message events in groups and channels, created over the protocol: who may post and type
//! (a locked group, a channel), who hears each dispatch, notifications for every other member,
//! and several members acting at once (messages.md §20 items 6, 16 and 19).

mod common;

use common::messages::{history, pending_kinds, react_to, recv_on_all, rows, send_to};
use common::rooms::{create_channel, create_room, denied, texts};
use common::{assert_uuid, normalize_times, spawn_app, spawn_app_with, user_json, Client};
use serde_json::{json, Value};
use uuid::Uuid;

const ACCESS_MESSAGE: &str = "User is not authorized to access this message";

async fn group(
    creator: &mut Client,
    members: &[i64],
    others: &mut [&mut Client],
    locked: bool,
) -> Uuid {
    let data = json!({"type": "GroupChat", "name": "Team", "participants": members,
                      "extra_fields": {"group_locked": locked}});
    assert_uuid(&create_room(creator, data, others).await["id"])
}

#[tokio::test]
async fn a_group_message_reaches_every_member_and_notifies_the_others_until_deleted() {
    let app = spawn_app().await;
    let [mut one, mut two, mut three, mut outsider] = app.users([1, 2, 3, 4]).await;
    let room = group(&mut one, &[2, 3], &mut [&mut two, &mut three], false).await;

    let sent = send_to(&mut one, room, "hello team", &mut [&mut two, &mut three]).await;
    let mut shape = sent.clone();
    normalize_times(&mut shape);
    assert_eq!(
        shape,
        json!({"id": sent["id"], "room": {"id": room}, "sender": user_json(1),
               "read_receipts": [], "reactions": [], "attachments": [],
               "parent_message": null, "forwarded_from": null, "delivered_to": [],
               "content": "hello team", "is_deleted": false, "created_at": "<ts>",
               "updated_at": "<ts>", "is_forwarded": false, "is_edited": false})
    );
    outsider.assert_nothing_pending().await;

    // Both other members are owed it; the sender is not.
    for id in [2, 3] {
        let (_again, pending) = app.connect(id).await;
        let items = pending[room.to_string()].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["message"], sent);
        assert_eq!(items[0]["notification_type"], "NEW_MESSAGE");
    }
    let (_again, pending) = app.connect(1).await;
    assert_eq!(pending, json!({}));

    one.emit(
        "message.modify",
        json!({"action": "delete", "message_id": [sent["id"]]}),
    )
    .await;
    assert_eq!(
        recv_on_all(
            "messagemodification.dispatch",
            &mut [&mut one, &mut two, &mut three]
        )
        .await,
        json!({"status": "successful", "action": "delete", "message_ids": [sent["id"]]})
    );
    outsider.assert_nothing_pending().await;
    for id in [2, 3] {
        let (_again, pending) = app.connect(id).await;
        assert_eq!(pending, json!({}));
    }
}

#[tokio::test]
async fn a_locked_group_takes_posts_and_typing_from_its_creator_only() {
    let app = spawn_app().await;
    let [mut creator, mut member, mut other] = app.users([1, 2, 3]).await;
    let room = group(&mut creator, &[2, 3], &mut [&mut member, &mut other], true).await;

    member
        .refused(
            "message.send",
            json!({"room_id": room, "content": "may I?"}),
            denied(texts::SEND),
        )
        .await;
    member
        .refused(
            "message.typing",
            json!({"room_id": room}),
            denied(texts::SEND),
        )
        .await;
    creator.assert_nothing_pending().await;

    let sent = send_to(
        &mut creator,
        room,
        "announcement",
        &mut [&mut member, &mut other],
    )
    .await;
    creator
        .emit("message.typing", json!({"room_id": room}))
        .await;
    let typing = json!({"username": "user1", "room_id": room});
    assert_eq!(
        recv_on_all("messagetyping.dispatch", &mut [&mut member, &mut other]).await,
        typing
    );
    creator.assert_nothing_pending().await;

    // The lock is about posting only: a plain member still reacts, reads and pages.
    react_to(&mut member, &sent, "👍", &mut [&mut creator, &mut other]).await;
    member
        .emit("message.read", json!({"message_id": sent["id"]}))
        .await;
    recv_on_all(
        "readreceipt.dispatch",
        &mut [&mut member, &mut creator, &mut other],
    )
    .await;
    let answer = history(&mut member, room, None).await;
    assert_eq!(answer["data"]["messages"][0]["id"], sent["id"]);
}

#[tokio::test]
async fn a_channel_takes_posts_from_its_creator_and_every_subscriber_may_use_them() {
    let app = spawn_app().await;
    let [mut creator, mut reader, mut other, mut outsider] = app.users([1, 2, 3, 4]).await;
    let room = create_channel(&mut creator, &[2, 3], false, &mut [&mut reader, &mut other]).await;

    for (event, data) in [
        (
            "message.send",
            json!({"room_id": room, "content": "hi all"}),
        ),
        ("message.typing", json!({"room_id": room})),
    ] {
        reader.refused(event, data, denied(texts::SEND)).await;
    }
    let post = send_to(&mut creator, room, "news", &mut [&mut reader, &mut other]).await;

    // A subscriber's reaction goes to the whole channel and notifies every other subscriber
    // and the creator.
    let reacted = react_to(&mut reader, &post, "❤️", &mut [&mut creator, &mut other]).await;
    assert_eq!(reacted["message"]["reactions"][0]["user"], user_json(2));
    other
        .emit("message.read", json!({"message_id": [post["id"]]}))
        .await;
    let read = recv_on_all(
        "readreceipt.dispatch",
        &mut [&mut other, &mut creator, &mut reader],
    )
    .await;
    assert_eq!(read[0]["read_receipts"][0]["reader"], user_json(3));
    let answer = history(&mut reader, room, Some(json!({"page": 1, "size": 10}))).await;
    assert_eq!(answer["data"]["messages"][0]["id"], post["id"]);
    for client in [&mut creator, &mut other] {
        client.assert_nothing_pending().await;
    }

    let (_creator2, pending) = app.connect(1).await;
    assert_eq!(pending_kinds(&pending, room), [json!("REACTION")]);
    let (_other2, pending) = app.connect(3).await;
    assert_eq!(
        pending_kinds(&pending, room),
        [json!("NEW_MESSAGE"), json!("REACTION")]
    );

    // Nothing about the channel's messages reaches or is accepted from a non-subscriber.
    for (event, data, error) in [
        (
            "message.send",
            json!({"room_id": room, "content": "x"}),
            denied(texts::SEND),
        ),
        (
            "message.react",
            json!({"type": "add", "message_id": post["id"], "reaction_content": "x"}),
            denied(ACCESS_MESSAGE),
        ),
        (
            "message.read",
            json!({"message_id": post["id"]}),
            denied(ACCESS_MESSAGE),
        ),
        (
            "message.acknowledged",
            json!({"message_id": post["id"]}),
            denied(ACCESS_MESSAGE),
        ),
        (
            "room.messages",
            json!({"room_id": room}),
            denied(texts::ACCESS_ROOM),
        ),
    ] {
        outsider.refused(event, data, error).await;
    }
    // Nor can it be quoted into a room of the outsider's own (DECISIONS 21).
    let own = group(&mut outsider, &[], &mut [], false).await;
    for key in ["parent_message_id", "forwarded_from_id"] {
        outsider
            .refused(
                "message.send",
                json!({"room_id": own, "content": "x", "extra_fields": {key: post["id"]}}),
                denied(ACCESS_MESSAGE),
            )
            .await;
    }
    for client in [&mut creator, &mut reader, &mut other] {
        client.assert_nothing_pending().await;
    }
}

#[tokio::test]
async fn members_acting_at_once_are_all_heard_and_all_stored() {
    // messages.md §20 item 19, in a group of six.
    let app = spawn_app().await;
    let mut members: Vec<Client> = app.users([1, 2, 3, 4, 5, 6]).await.into();
    let (first, rest) = members.split_first_mut().unwrap();
    let mut others: Vec<&mut Client> = rest.iter_mut().collect();
    let room = group(first, &[2, 3, 4, 5, 6], &mut others, false).await;
    let post = send_to(first, room, "vote", &mut others).await;

    async fn everyone_hears(members: &mut [Client], count: usize, event: &str) -> Vec<Value> {
        let mut heard = Vec::new();
        for member in members.iter_mut() {
            for _ in 0..count {
                heard.push(member.recv_dispatch(event).await);
            }
        }
        heard
    }

    // Five members send at once: every connection receives all five.
    for member in &mut members[1..] {
        member
            .emit(
                "message.send",
                json!({"room_id": room, "content": "at once"}),
            )
            .await;
    }
    let heard = everyone_hears(&mut members, 5, "message.dispatch").await;
    let sent: std::collections::HashSet<&Value> = heard.iter().map(|m| &m["id"]).collect();
    assert_eq!(
        sent.len(),
        5,
        "each connection heard the same five messages"
    );
    // Five different reactions to one message at once: five stored.
    for (member, emoji) in members[1..].iter_mut().zip(["👍", "👎", "😂", "😮", "🎉"]) {
        member
            .emit(
                "message.react",
                json!({"type": "add", "message_id": post["id"], "reaction_content": emoji}),
            )
            .await;
    }
    everyone_hears(&mut members, 5, "reaction.dispatch").await;
    // Five members read it at once: five receipts.
    for member in &mut members[1..] {
        member
            .emit("message.read", json!({"message_id": post["id"]}))
            .await;
    }
    everyone_hears(&mut members, 5, "readreceipt.dispatch").await;

    let db = app.db().await;
    assert_eq!(rows::<entity::reaction::Entity>(&db).await, 5);
    assert_eq!(rows::<entity::read_receipt::Entity>(&db).await, 5);
    assert_eq!(rows::<entity::message::Entity>(&db).await, 6);
    let answer = history(&mut members[0], room, None).await;
    let last = &answer["data"]["messages"][5];
    assert_eq!(last["id"], post["id"]);
    assert_eq!(last["reactions"].as_array().unwrap().len(), 5);
    assert_eq!(last["read_receipts"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_burst_into_a_group_spread_over_both_workers_reaches_every_connection_in_order() {
    burst_over_both_workers(&[
        ("rooms.actor_thread", "actors"),
        ("database.writer_thread", "own"),
    ])
    .await;
}

/// The same with the room's actor on the sender's worker (`rooms.actor_thread = "worker"`;
/// the sender is the room's first caller) and the sends committed there while the writer is
/// idle (both the defaults): the sessions on that worker are flushed by the room itself, those
/// on the other one once per dispatch.
#[tokio::test]
async fn with_the_room_on_the_senders_worker_a_burst_reaches_every_connection_in_order() {
    burst_over_both_workers(&[
        ("rooms.actor_thread", "worker"),
        ("database.writer_thread", "adaptive"),
    ])
    .await;
}

async fn burst_over_both_workers(settings: &[(&str, &str)]) {
    // Eight connections to a server with two HTTP workers are spread over both (the server
    // hands connections to its workers in turn), so each dispatch is flushed to sessions on
    // both, a worker at a time, while the member who sends does not wait between sends.
    let app = spawn_app_with(settings).await;
    let mut members: Vec<Client> = app.users([1, 2, 3, 4, 5, 6]).await.into();
    let (first, rest) = members.split_first_mut().unwrap();
    let mut others: Vec<&mut Client> = rest.iter_mut().collect();
    let room = group(first, &[2, 3, 4, 5, 6], &mut others, false).await;
    members.push(app.user(1).await);
    members.push(app.user(4).await);

    let contents: Vec<String> = (0..40).map(|n| format!("burst {n}")).collect();
    for content in &contents {
        members[0]
            .emit("message.send", json!({"room_id": room, "content": content}))
            .await;
    }

    for member in &mut members {
        let mut heard = Vec::new();
        for _ in &contents {
            heard.push(member.recv_dispatch("message.dispatch").await["content"].clone());
        }
        assert_eq!(heard, contents, "every send, in the order sent");
        member.assert_nothing_pending().await;
    }
}

#[tokio::test]
async fn an_admin_who_is_not_the_creator_posts_in_a_locked_group() {
    let app = spawn_app().await;
    let [mut creator, mut admin, mut member] = app.users([1, 2, 3]).await;
    let room = group(&mut creator, &[2, 3], &mut [&mut admin, &mut member], true).await;
    creator
        .emit(
            "room.modify",
            json!({"room_id": room, "action": "add_admin", "data": {"users": [2]}}),
        )
        .await;
    recv_on_all(
        "roomupdate.dispatch",
        &mut [&mut creator, &mut admin, &mut member],
    )
    .await;

    let sent = send_to(
        &mut admin,
        room,
        "from the new admin",
        &mut [&mut creator, &mut member],
    )
    .await;
    assert_eq!(sent["sender"], user_json(2));
    admin.emit("message.typing", json!({"room_id": room})).await;
    assert_eq!(
        recv_on_all("messagetyping.dispatch", &mut [&mut creator, &mut member]).await,
        json!({"username": "user2", "room_id": room})
    );
    member
        .refused(
            "message.send",
            json!({"room_id": room, "content": "and me?"}),
            denied(texts::SEND),
        )
        .await;
    admin.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_member_who_left_can_no_longer_use_the_rooms_messages_nor_hear_them() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let room = group(&mut alice, &[2, 3], &mut [&mut bob, &mut carol], false).await;
    let own = send_to(&mut bob, room, "bob's own", &mut [&mut alice, &mut carol]).await;
    let theirs = send_to(&mut alice, room, "alice's", &mut [&mut bob, &mut carol]).await;

    bob.emit("room.leave", json!({"room_id": room})).await;
    bob.recv_dispatch("roomexit.dispatch").await;
    recv_on_all("roomremovemembers.dispatch", &mut [&mut alice, &mut carol]).await;

    // Editing and deleting even their own message needs membership (messages.md §8.2 step 2).
    bob.refused(
        "message.modify",
        json!({"action": "update", "message_id": own["id"],
               "extra_fields": {"content": "changed"}}),
        denied(ACCESS_MESSAGE),
    )
    .await;
    bob.refused(
        "message.modify",
        json!({"action": "delete", "message_id": [own["id"]]}),
        denied(ACCESS_MESSAGE),
    )
    .await;
    for (event, data) in [
        (
            "message.react",
            json!({"type": "add", "message_id": theirs["id"], "reaction_content": "👍"}),
        ),
        ("message.read", json!({"message_id": theirs["id"]})),
        (
            "message.acknowledged",
            json!({"message_id": [theirs["id"]]}),
        ),
    ] {
        bob.refused(event, data, denied(ACCESS_MESSAGE)).await;
    }
    bob.refused(
        "room.messages",
        json!({"room_id": room}),
        denied(texts::ACCESS_ROOM),
    )
    .await;
    for event in ["message.send", "message.typing"] {
        bob.refused(
            event,
            json!({"room_id": room, "content": "still here?"}),
            denied(texts::SEND),
        )
        .await;
    }
    // Nothing of theirs was written, and the room goes on without them.
    let answer = history(&mut alice, room, None).await;
    assert_eq!(answer["data"]["messages"][1]["content"], "bob's own");
    assert_eq!(answer["data"]["messages"][0]["reactions"], json!([]));
    assert_eq!(answer["data"]["messages"][0]["read_receipts"], json!([]));
    send_to(&mut alice, room, "after bob", &mut [&mut carol]).await;
    carol.emit("message.typing", json!({"room_id": room})).await;
    alice.recv_dispatch("messagetyping.dispatch").await;
    bob.assert_nothing_pending().await;
}
