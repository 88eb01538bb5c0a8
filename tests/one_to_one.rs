//! The one-to-one slice end to end: create, list, info, send, acknowledge, and notifications
//! replayed on connect — with the exact frames of the spec.

mod common;

use common::messages::{alice_and_bob, crafted_markup, overgrown};
use common::rooms::field;
use common::{
    assert_timestamp, assert_uuid, create_one_to_one, normalize_times, send_message, spawn_app,
    spawn_app_with, user_json,
};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

#[tokio::test]
async fn creating_a_one_to_one_chat_dispatches_the_room_detail_to_both_users() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;

    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [2]}),
        )
        .await;
    let mut room = alice.recv_dispatch("roomcreate.dispatch").await;
    assert_eq!(bob.recv_dispatch("roomcreate.dispatch").await, room);

    let id = assert_uuid(&room["id"]);
    normalize_times(&mut room);
    assert_eq!(
        room,
        json!({"id": id, "participants": [user_json(1), user_json(2)],
               "property": {"preferences": {}}, "created_at": "<ts>", "updated_at": "<ts>",
               "type": "OneToOneChat"})
    );
}

#[tokio::test]
async fn every_device_of_both_users_sees_the_conversation_and_a_third_user_sees_nothing() {
    let app = spawn_app().await;
    let mut alice_phone = app.user(1).await;
    let mut alice_laptop = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;

    let room = create_one_to_one(&mut alice_phone, 1, &mut bob, 2).await;
    alice_laptop.recv_dispatch("roomcreate.dispatch").await;

    let mut sent = send_message(&mut alice_phone, room, "Hello <b>bob</b> 👋").await;
    let on_laptop = alice_laptop.recv_dispatch("message.dispatch").await;
    let at_bob = bob.recv_dispatch("message.dispatch").await;
    assert_eq!(sent, on_laptop);
    assert_eq!(sent, at_bob);

    let message_id = assert_uuid(&sent["id"]);
    assert_eq!(sent["created_at"], sent["updated_at"]);
    // Whoever has been told about a message can find it in the database.
    let stored = chatd::store::messages::find_many(&app.db().await, &[message_id])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "Hello <b>bob</b> 👋");
    normalize_times(&mut sent);
    assert_eq!(
        sent,
        json!({"id": message_id, "room": {"id": room}, "sender": user_json(1),
               "read_receipts": [], "reactions": [], "attachments": [],
               "parent_message": null, "forwarded_from": null, "delivered_to": [],
               "content": "Hello <b>bob</b> 👋", "is_deleted": false,
               "created_at": "<ts>", "updated_at": "<ts>",
               "is_forwarded": false, "is_edited": false})
    );

    // Bob answers; the same three connections see it.
    let reply = send_message(&mut bob, room, "hi alice").await;
    assert_eq!(alice_phone.recv_dispatch("message.dispatch").await, reply);
    assert_eq!(alice_laptop.recv_dispatch("message.dispatch").await, reply);

    carol.assert_nothing_pending().await;
    alice_phone.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_second_chat_for_the_same_pair_is_refused_in_either_direction() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    let exists = json!({"error": {"code": 4003, "detail": ["['Chat already exists']"]}});
    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [2]}),
        )
        .await;
    assert_eq!(alice.recv().await, exists);
    bob.emit(
        "room.create",
        json!({"type": "OneToOneChat", "participants": ["1"]}),
    )
    .await;
    assert_eq!(bob.recv().await, exists);
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_one_to_one_chat_needs_exactly_one_other_known_user() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let _bob = app.user(2).await;
    let _carol = app.user(3).await;
    let wrong_size = json!({"error": {"code": 4003, "detail": ["['A one to one chat can only have 2 participants']"]}});
    for participants in [
        json!([1]),
        json!([]),
        json!([999]),
        json!([2, 3]),
        json!("2"),
    ] {
        alice
            .emit(
                "room.create",
                json!({"type": "OneToOneChat", "participants": participants}),
            )
            .await;
        assert_eq!(
            alice.recv().await,
            wrong_size,
            "participants {participants}"
        );
    }
    alice
        .emit("room.create", json!({"type": "OneToOneChat"}))
        .await;
    assert_eq!(alice.recv().await, wrong_size);
    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": ["bob"]}),
        )
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"error": {"code": 4003, "detail": ["Field 'id' expected a number but got 'bob'."]}})
    );
    // The creator's own id alongside the peer's collapses.
    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [2, 1]}),
        )
        .await;
    alice.recv_dispatch("roomcreate.dispatch").await;
}

#[tokio::test]
async fn room_create_validates_type_extra_fields_and_ids() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let _bob = app.user(2).await;
    let cases = [
        (
            json!({"participants": [2]}),
            json!({"code": 4003, "detail": ["Invalid resource type"]}),
        ),
        (
            json!({"type": "Nope"}),
            json!({"code": 4003, "detail": ["Invalid resource type"]}),
        ),
        (
            json!({"type": "OneToOneChat", "participants": [2], "extra_fields": null}),
            json!({"code": 4006, "detail": "Internal server error."}),
        ),
        (
            json!({"type": "OneToOneChat", "participants": [2], "extra_fields": {"property": "x"}}),
            json!({"code": 4003, "detail": ["Room property must be a python dictionary/javascript object"]}),
        ),
        (
            json!({"type": "OneToOneChat", "participants": [2],
                   "extra_fields": {"property": {"preferences": 5}}}),
            json!({"code": 4003, "detail": ["preferences must be a python dictionary/javascript object"]}),
        ),
        (
            json!({"type": "OneToOneChat", "participants": [2],
                   "extra_fields": {"property": {"preferences": null}}}),
            json!({"code": 4003, "detail": {"preferences": ["This field may not be null."]}}),
        ),
        (
            json!({"type": "OneToOneChat", "participants": [2], "id": "nope"}),
            json!({"code": 4003, "detail": {"id": ["Must be a valid UUID."]}}),
        ),
    ];
    for (data, error) in cases {
        alice.emit("room.create", data.clone()).await;
        assert_eq!(alice.recv().await, json!({"error": error}), "data {data}");
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_client_chosen_id_and_preferences_are_kept() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let _bob = app.user(2).await;
    let id = uuid::Uuid::new_v4();
    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [2], "id": id.to_string().to_uppercase(),
                   "extra_fields": {"property": {"preferences": {"mute": true}}}}),
        )
        .await;
    let room = alice.recv_dispatch("roomcreate.dispatch").await;
    assert_eq!(room["id"], json!(id));
    assert_eq!(room["property"], json!({"preferences": {"mute": true}}));

    let mut carol = app.user(3).await;
    carol
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [1], "id": id}),
        )
        .await;
    // A clash is the constraint's answer (DECISIONS 15).
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4005, "detail": "Database constraint violated."}})
    );
}

#[tokio::test]
async fn room_info_is_for_members_only() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    bob.emit("room.info", json!({"room_id": room})).await;
    let mut info = bob.recv_dispatch("roominfo.dispatch").await;
    normalize_times(&mut info);
    assert_eq!(
        info,
        json!({"id": room, "participants": [user_json(1), user_json(2)],
               "property": {"preferences": {}}, "created_at": "<ts>", "updated_at": "<ts>",
               "type": "OneToOneChat", "unread_count": 0})
    );

    carol.emit("room.info", json!({"room_id": room})).await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4002, "detail": "User is not authorized access this room"}})
    );
    carol
        .emit("room.info", json!({"room_id": uuid::Uuid::new_v4()}))
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4004, "detail": "Resource not found."}})
    );
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn room_list_goes_to_every_device_newest_activity_first_with_placeholders() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut alice_tablet = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;
    let with_bob = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    alice_tablet.recv_dispatch("roomcreate.dispatch").await;
    let with_carol = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    alice_tablet.recv_dispatch("roomcreate.dispatch").await;

    // No messages yet: newest room first, and the "no message" placeholder.
    alice.emit("room.list", json!(null)).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(alice_tablet.recv_dispatch("roomlist.dispatch").await, list);
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, vec![&json!(with_carol), &json!(with_bob)]);
    let mut first = list[0].clone();
    normalize_times(&mut first);
    assert_eq!(
        first,
        json!({"id": with_carol, "peer": user_json(3),
               "last_message": {"id": null, "room_id": null, "sender_id": null,
                   "parent_message_id": null, "forwarded_from_id": null, "content": "",
                   "is_deleted": false, "is_forwarded": false, "is_edited": false},
               "created_at": "<ts>", "updated_at": "<ts>", "type": "OneToOneChat",
               "unread_count": 0})
    );

    // A message in the older room moves it to the top.
    let sent = send_message(&mut bob, with_bob, "ping").await;
    alice.recv_dispatch("message.dispatch").await;
    alice_tablet.recv_dispatch("message.dispatch").await;
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    alice_tablet.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list[0]["id"], json!(with_bob));
    assert_eq!(list[0]["peer"], user_json(2));
    assert_eq!(list[0]["last_message"], sent);
    assert_eq!(list[0]["unread_count"], 1);
    assert_timestamp(&list[0]["updated_at"]);
    assert_ne!(list[0]["updated_at"], list[0]["created_at"]);

    carol.emit("room.list", json!({})).await;
    let carols = carol.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(carols.as_array().unwrap().len(), 1);
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn content_is_sanitised_and_validated() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    for (input, stored) in [
        (
            "<p onclick=\"x()\">Hi<script>alert(1)</script></p>",
            "<p>Hi</p>",
        ),
        (
            "  <a href=\"javascript:alert(1)\">link</a>  ",
            "<a>link</a>",
        ),
        ("Tom & Jerry", "Tom &amp; Jerry"),
    ] {
        let sent = send_message(&mut alice, room, input).await;
        assert_eq!(sent["content"], stored, "input {input}");
        bob.recv_dispatch("message.dispatch").await;
    }
    let number = {
        alice
            .emit("message.send", json!({"room_id": room, "content": 42}))
            .await;
        alice.recv_dispatch("message.dispatch").await
    };
    assert_eq!(number["content"], "42");
    bob.recv_dispatch("message.dispatch").await;

    let cases = [
        (
            json!({"room_id": room, "content": "   "}),
            json!({"content": ["This field may not be blank."]}),
        ),
        (
            json!({"room_id": room, "content": null}),
            json!({"content": ["This field may not be null."]}),
        ),
        (
            json!({"room_id": room, "content": ["x"]}),
            json!({"content": ["Not a valid string."]}),
        ),
        (
            json!({"room_id": room}),
            json!({"content": ["This field is required."]}),
        ),
        (
            json!({"room_id": room, "content": "a\u{0}b"}),
            json!({"content": ["Null characters are not allowed."]}),
        ),
        (
            json!({"room_id": room, "content": "x".repeat(10_001)}),
            json!({"content": ["Ensure this field has no more than 10000 characters."]}),
        ),
    ];
    for (data, detail) in cases {
        alice.emit("message.send", data).await;
        assert_eq!(
            alice.recv().await,
            json!({"error": {"code": 4003, "detail": detail}})
        );
    }
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn the_content_limit_counts_input_characters_and_escaping_grows_what_is_stored() {
    // DECISIONS 30 limits the trimmed input; sanitising may then grow it (docs/protocol-notes.md
    // states the bound): `&` is stored as `&amp;`.
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;

    let sent = send_message(&mut alice, room, &"&".repeat(10_000)).await;
    assert_eq!(sent["content"], "&amp;".repeat(10_000));
    bob.recv_dispatch("message.dispatch").await;
    let id = assert_uuid(&sent["id"]);
    let stored = entity::message::Entity::find_by_id(id)
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("message stored");
    assert_eq!(stored.content.chars().count(), 50_000);

    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": "&".repeat(10_001)}),
        )
        .await;
    assert_eq!(
        alice.recv().await,
        field(
            "content",
            "Ensure this field has no more than 10000 characters."
        )
    );
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn formatting_left_open_across_paragraphs_is_stored_as_the_parser_repairs_it() {
    // Content that is refused unparsed is only crafted markup (docs/protocol-notes.md, "Bound on
    // stored content"): a bold left open, re-opened in 130 paragraphs, is repaired and stored.
    let app = spawn_app_with(&[("limits.max_content_chars", "1000")]).await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;

    let content = format!("<p><b class=note>important{}", "<p>more".repeat(130));
    let sent = send_message(&mut alice, room, &content).await;

    let repaired = format!(
        "<p><b class=\"note\">important</b></p>{}",
        "<p><b class=\"note\">more</b></p>".repeat(130)
    );
    assert_eq!(sent["content"], repaired);
    assert_eq!(
        bob.recv_dispatch("message.dispatch").await["content"],
        repaired
    );
}

#[tokio::test]
async fn markup_that_sanitising_grows_beyond_six_times_the_limit_is_refused_and_not_stored() {
    let app = spawn_app_with(&[("limits.max_content_chars", "1000")]).await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;

    // Sanitised, these 1000 characters would be about 100 000.
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": crafted_markup(1000)}),
        )
        .await;
    assert_eq!(alice.recv().await, overgrown(6000));
    let stored = entity::message::Entity::find()
        .all(&app.db().await)
        .await
        .unwrap();
    assert_eq!(stored, vec![]);
    bob.assert_nothing_pending().await;
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn strangers_cannot_post_and_unknown_rooms_are_not_found() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    carol
        .emit(
            "message.send",
            json!({"room_id": room, "content": "let me in"}),
        )
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4002, "detail": "User is not authorized to send message to this room"}})
    );
    carol
        .emit(
            "message.send",
            json!({"room_id": uuid::Uuid::new_v4(), "content": "x"}),
        )
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4004, "detail": "Resource not found."}})
    );
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn replies_and_forwards_embed_their_source_and_respect_room_access() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;
    let ab = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;

    let original = send_message(&mut alice, ab, "Lunch?").await;
    bob.recv_dispatch("message.dispatch").await;

    bob.emit(
        "message.send",
        json!({"room_id": ab, "content": "Sure", "extra_fields": {"parent_message_id": original["id"]}}),
    )
    .await;
    let reply = bob.recv_dispatch("message.dispatch").await;
    alice.recv_dispatch("message.dispatch").await;
    assert_eq!(reply["parent_message"], original);
    assert_eq!(reply["is_forwarded"], false);

    bob.emit(
        "message.send",
        json!({"room_id": bc, "content": "Lunch?", "extra_fields": {"forwarded_from_id": original["id"]}}),
    )
    .await;
    let forward = bob.recv_dispatch("message.dispatch").await;
    carol.recv_dispatch("message.dispatch").await;
    assert_eq!(forward["forwarded_from"], original);
    assert_eq!(forward["is_forwarded"], true);
    assert_eq!(forward["parent_message"], Value::Null);

    // Carol is not in alice–bob: she cannot quote its messages (DECISIONS 21).
    carol
        .emit(
            "message.send",
            json!({"room_id": bc, "content": "x", "extra_fields": {"parent_message_id": original["id"]}}),
        )
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4002, "detail": "User is not authorized to access this message"}})
    );
    // A reply cannot also be a forward.
    bob.emit(
        "message.send",
        json!({"room_id": ab, "content": "x", "extra_fields":
            {"parent_message_id": original["id"], "forwarded_from_id": original["id"]}}),
    )
    .await;
    assert_eq!(
        bob.recv().await,
        json!({"error": {"code": 4005, "detail": "Database constraint violated."}})
    );
    let missing = uuid::Uuid::new_v4();
    bob.emit(
        "message.send",
        json!({"room_id": ab, "content": " ", "extra_fields": {"forwarded_from_id": missing}}),
    )
    .await;
    assert_eq!(
        bob.recv().await,
        json!({"error": {"code": 4003, "detail": {
            "content": ["This field may not be blank."],
            "forwarded_from_id": [format!("Invalid pk \"{missing}\" - object does not exist.")]}}})
    );
    alice.assert_nothing_pending().await;
    carol.assert_nothing_pending().await;
}

#[tokio::test]
async fn media_messages_store_attachments_and_say_media_files() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": "ignored", "extra_fields": {"media": [
                {"media_url": "https://cdn.example.com/p.jpg", "media_type": "image",
                 "file_size": 204800, "metadata": {"width": 1080}}]}}),
        )
        .await;
    let sent = alice.recv_dispatch("message.dispatch").await;
    assert_eq!(bob.recv_dispatch("message.dispatch").await, sent);
    assert_eq!(sent["content"], "Media Files");
    let attachment = &sent["attachments"][0];
    assert_uuid(&attachment["id"]);
    assert_eq!(
        attachment,
        &json!({"id": attachment["id"], "media_url": "https://cdn.example.com/p.jpg",
                "media_type": "image", "file_size": 204800, "mime_type": "image/jpeg",
                "caption": null, "metadata": {"width": 1080}})
    );

    alice
        .emit(
            "message.send",
            json!({"room_id": room, "extra_fields": {"media": [
                {"media_url": "https://x/a.gif", "media_type": "image", "mime_type": "image/x-nope"}]}}),
        )
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"error": {"code": 4005, "detail": "Database constraint violated."}})
    );
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "extra_fields": {"media": "x"}}),
        )
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"error": {"code": 4003, "detail": ["Media must be a list of media files"]}})
    );
    // Nothing half-written: the refused messages never reached bob or the room list.
    bob.assert_nothing_pending().await;
    bob.emit("room.list", json!({})).await;
    let list = bob.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list[0]["last_message"]["id"], sent["id"]);
}

#[tokio::test]
async fn acknowledging_tells_the_sender_on_every_device_and_nobody_else() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut alice_laptop = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut bob_tablet = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    alice_laptop.recv_dispatch("roomcreate.dispatch").await;
    bob_tablet.recv_dispatch("roomcreate.dispatch").await;

    let first = send_message(&mut alice, room, "one").await;
    let second = send_message(&mut alice, room, "two").await;
    for c in [&mut alice_laptop, &mut bob, &mut bob_tablet] {
        c.recv_dispatch("message.dispatch").await;
        c.recv_dispatch("message.dispatch").await;
    }

    bob.emit(
        "message.acknowledged",
        json!({"message_id": [first["id"], second["id"], first["id"]]}),
    )
    .await;
    let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;
    assert_eq!(
        alice_laptop
            .recv_dispatch("messagedelivered.dispatch")
            .await,
        delivered
    );
    let items = delivered.as_array().expect("always an array");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], first["id"]);
    assert_eq!(items[1]["id"], second["id"]);
    for item in items {
        assert_eq!(item["delivered_to"], json!(["user2"]));
        assert_eq!(item["sender"], user_json(1));
    }
    bob.assert_nothing_pending().await;
    bob_tablet.assert_nothing_pending().await;

    // Idempotent: a second acknowledgement is no error and adds nobody twice.
    bob.emit("message.acknowledged", json!({"message_id": first["id"]}))
        .await;
    let again = alice.recv_dispatch("messagedelivered.dispatch").await;
    alice_laptop
        .recv_dispatch("messagedelivered.dispatch")
        .await;
    assert_eq!(again[0]["delivered_to"], json!(["user2"]));

    // An empty list is accepted and produces nothing.
    bob.emit("message.acknowledged", json!({"message_id": []}))
        .await;
    bob.assert_nothing_pending().await;
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn acknowledging_messages_of_other_rooms_or_unknown_ids_is_refused() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let mut carol = app.user(3).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let sent = send_message(&mut alice, room, "private").await;
    bob.recv_dispatch("message.dispatch").await;

    carol
        .emit("message.acknowledged", json!({"message_id": [sent["id"]]}))
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4002, "detail": "User is not authorized to access this message"}})
    );
    carol
        .emit(
            "message.acknowledged",
            json!({"message_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!(
        carol.recv().await,
        json!({"error": {"code": 4004, "detail": "Resource not found."}})
    );
    // Nothing was recorded for carol.
    alice.assert_nothing_pending().await;
    bob.emit("message.acknowledged", json!({"message_id": sent["id"]}))
        .await;
    let delivered = alice.recv_dispatch("messagedelivered.dispatch").await;
    assert_eq!(delivered[0]["delivered_to"], json!(["user2"]));
}

#[tokio::test]
async fn messages_sent_while_offline_are_replayed_on_connect_until_acknowledged() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    bob.close().await;

    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        sent.push(send_message(&mut alice, room, text).await);
    }

    let (mut bob, pending) = app.connect(2).await;
    let items = pending[room.to_string()]
        .as_array()
        .expect("room key")
        .clone();
    assert_eq!(pending.as_object().unwrap().len(), 1);
    assert_eq!(items.len(), 3);
    for (item, message) in items.iter().zip(&sent) {
        assert_uuid(&item["id"]);
        assert_eq!(
            item,
            &json!({"id": item["id"], "message": message, "notification_type": "NEW_MESSAGE"})
        );
    }

    // The sender is never notified about their own message.
    let (_alice2, alice_pending) = app.connect(1).await;
    assert_eq!(alice_pending, json!({}));

    let ids: Vec<Value> = sent.iter().map(|m| m["id"].clone()).collect();
    bob.emit("message.acknowledged", json!({"message_id": ids}))
        .await;
    alice.recv_dispatch("messagedelivered.dispatch").await;
    bob.assert_nothing_pending().await;
    let (_bob2, pending) = app.connect(2).await;
    assert_eq!(pending, json!({}));
}

#[tokio::test]
async fn replies_are_replayed_as_reply_notifications() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let question = send_message(&mut bob, room, "?").await;
    alice.recv_dispatch("message.dispatch").await;
    bob.close().await;
    alice
        .emit(
            "message.send",
            json!({"room_id": room, "content": "!", "extra_fields": {"parent_message_id": question["id"]}}),
        )
        .await;
    alice.recv_dispatch("message.dispatch").await;
    let (_bob, pending) = app.connect(2).await;
    let kinds: Vec<&Value> = pending[room.to_string()]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["notification_type"])
        .collect();
    assert_eq!(kinds, vec![&json!("REPLY")]);
}

#[tokio::test]
async fn with_notifications_disabled_no_replay_frame_is_sent() {
    let app = common::spawn_app_with(&[("notifications.enabled", "false")]).await;
    let url = format!("{}?token={}", app.ws_url(), app.token(1));
    let mut client = common::Client::open(&url).await.unwrap();
    // The first frame is whatever the client asks for next.
    client.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_member_who_stops_reading_is_closed_with_1013_instead_of_buffered() {
    // Large frames fill the kernel's socket buffers quickly; a tiny outbound queue then
    // overflows.
    let app = common::spawn_app_with(&[
        ("mailboxes.session", "2"),
        ("limits.max_content_chars", "60000"),
        ("limits.max_frame_bytes", "1048576"),
    ])
    .await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;

    // Bob reads nothing while alice sends ~18 MB.
    let big = "x".repeat(60_000);
    const SENT: usize = 300;
    for _ in 0..SENT {
        send_message(&mut alice, room, &big).await;
    }

    let mut received = 0;
    let code = loop {
        match bob.next_frame_or_close().await {
            Ok(_) => received += 1,
            Err((code, reason)) => {
                assert_eq!(reason, "Try again later");
                break code;
            }
        }
    };
    assert_eq!(code, 1013);
    assert!(
        received < SENT,
        "bob was cut off, not buffered ({received} frames)"
    );
    // The sender is unaffected.
    alice.assert_nothing_pending().await;
    let scrape = app.scrape().await;
    assert_eq!(scrape.value("chatd_slow_consumer_closes_total"), 1.0);
    // Bob's queue was full when he was cut off.
    assert!(
        scrape.value("chatd_session_queue_fullness_bucket{le=\"0.9\"}")
            < scrape.value("chatd_session_queue_fullness_count")
    );
}
