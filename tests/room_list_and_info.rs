//! `room.list` and `room.info` for every room type: the list-entry and detail shapes, the
//! order, and who may look.

mod common;

use common::rooms::{
    channel_json, create_channel, create_group, denied, group_json, info_json, internal, not_found,
    rule, texts,
};
use common::{create_one_to_one, send_message, spawn_app, user_json};
use serde_json::json;

#[tokio::test]
async fn the_list_shows_groups_and_channels_with_their_creator_newest_activity_first() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol] = app.users([1, 2, 3]).await;
    let channel = create_channel(&mut bob, &[1], true, &mut [&mut alice]).await;
    let with_carol = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let group = create_group(&mut alice, &[3], &mut [&mut carol]).await;

    // No messages: newest room first, each with the "no message" placeholder.
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_normalized("roomlist.dispatch").await;
    let placeholder = json!({"id": null, "room_id": null, "sender_id": null,
        "parent_message_id": null, "forwarded_from_id": null, "content": "",
        "is_deleted": false, "is_forwarded": false, "is_edited": false});
    assert_eq!(
        list,
        json!([
            {"id": group, "creator": user_json(1), "last_message": placeholder,
             "created_at": "<ts>", "updated_at": "<ts>", "name": "Team", "description": null,
             "max_participants": 100, "avatar": null, "join_approval_required": false,
             "group_locked": false, "type": "GroupChat", "unread_count": 0},
            {"id": with_carol, "peer": user_json(3), "last_message": placeholder,
             "created_at": "<ts>", "updated_at": "<ts>", "type": "OneToOneChat",
             "unread_count": 0},
            {"id": channel, "creator": user_json(2), "last_message": placeholder,
             "created_at": "<ts>", "updated_at": "<ts>", "name": "News", "description": null,
             "is_public": true, "avatar": null, "max_subscribers": 300, "type": "Channel",
             "unread_count": 0},
        ])
    );

    // A post in the oldest room moves it to the top, with the message as last_message.
    let post = send_message(&mut bob, channel, "hello").await;
    alice.recv_dispatch("message.dispatch").await;
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list[0]["id"], json!(channel));
    assert_eq!(list[0]["last_message"], post);
    assert_eq!(list[1]["id"], json!(group));

    // Each user sees only their rooms.
    carol.emit("room.list", json!(null)).await;
    let ids: Vec<_> = carol
        .recv_dispatch("roomlist.dispatch")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(group), json!(with_carol)]);
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn room_info_shows_each_room_type_to_its_members_only() {
    let app = spawn_app().await;
    let [mut alice, mut alice_tablet, mut bob, mut carol] = app.users([1, 1, 2, 3]).await;
    let group = create_group(&mut alice, &[2], &mut [&mut alice_tablet, &mut bob]).await;
    let channel = create_channel(&mut bob, &[1], false, &mut [&mut alice, &mut alice_tablet]).await;

    // To every connection of the asking user, nobody else.
    alice.emit("room.info", json!({"room_id": group})).await;
    let info = alice.recv_normalized("roominfo.dispatch").await;
    assert_eq!(info, info_json(group_json(group, 1, &[1, 2], &[1]), 0));
    assert_eq!(
        alice_tablet.recv_normalized("roominfo.dispatch").await,
        info
    );
    alice
        .emit(
            "room.info",
            json!({"room_id": channel.to_string().to_uppercase()}),
        )
        .await;
    assert_eq!(
        alice.recv_normalized("roominfo.dispatch").await,
        info_json(channel_json(channel, 2, &[1, 2], &[2], false), 0)
    );
    alice_tablet.recv_dispatch("roominfo.dispatch").await;
    bob.assert_nothing_pending().await;

    let refusals = [
        (json!({"room_id": group}), denied(texts::ACCESS_ROOM)),
        (json!({"room_id": uuid::Uuid::new_v4()}), not_found()),
        (
            json!({"room_id": "abc"}),
            rule("\u{201c}abc\u{201d} is not a valid UUID."),
        ),
        (json!({}), rule("Invalid room_id type")),
        (json!({"room_id": [group]}), rule("Invalid room_id type")),
        (json!("x"), internal()),
    ];
    for (data, want) in refusals {
        carol.refused("room.info", data, want).await;
    }
    alice.assert_nothing_pending().await;
}
