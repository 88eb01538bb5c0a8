//! `message.send` in detail: the `extra_fields` whitelist (DECISIONS 20), reply and forward
//! sources (DECISIONS 21), media, the errors of messages.md §7.8 in the table's order, and a
//! refusal to post before every error of the body (§1.5), sent one at a time or pipelined.

mod common;

use common::messages::{alice_and_bob, history, not_a_uuid, send_to, send_with};
use common::rooms::{constraint, create_room, denied, error, internal, not_found, rule, texts};
use common::{
    assert_uuid, create_one_to_one, normalize_times, spawn_app, spawn_app_with, user_json,
};
use serde_json::{json, Value};

#[tokio::test]
async fn extra_fields_carry_only_the_whitelisted_keys() {
    // DECISIONS 20: on send only parent_message_id, forwarded_from_id, is_forwarded and media;
    // on update only content.
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let ac = create_one_to_one(&mut alice, 1, &mut carol, 3).await;
    let source = send_to(&mut alice, ab, "source", &mut [&mut bob]).await;
    let chosen_id = uuid::Uuid::new_v4();
    let overrides = json!({"id": chosen_id, "is_edited": true, "is_deleted": true,
        "sender_id": 2, "room_id": ac, "room": ac, "content": "from extra_fields",
        "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z",
        "delivered_to": [2], "reactions": [{"reaction_content": "x"}]});

    let sent = send_with(
        &mut alice,
        json!({"room_id": ab, "content": "real", "extra_fields": overrides}),
        &mut [&mut bob],
    )
    .await;
    assert_ne!(sent["id"], json!(chosen_id));
    let mut plain = sent.clone();
    normalize_times(&mut plain);
    assert_eq!(
        plain,
        json!({"id": sent["id"], "room": {"id": ab}, "sender": user_json(1),
               "read_receipts": [], "reactions": [], "attachments": [],
               "parent_message": null, "forwarded_from": null, "delivered_to": [],
               "content": "real", "is_deleted": false, "created_at": "<ts>",
               "updated_at": "<ts>", "is_forwarded": false, "is_edited": false})
    );

    // Spellings the reference ignores make a plain message too.
    let legacy = send_with(
        &mut alice,
        json!({"room_id": ab, "content": "legacy", "parent_message_id": source["id"],
               "forwarded_from_id": source["id"],
               "extra_fields": {"parent_message": source["id"]}}),
        &mut [&mut bob],
    )
    .await;
    assert_eq!(legacy["parent_message"], Value::Null);
    assert_eq!(legacy["forwarded_from"], Value::Null);
    assert_eq!(legacy["is_forwarded"], false);
    // `is_forwarded` alone is accepted: a forward without a source (messages.md §7.5).
    let sourceless = send_with(
        &mut alice,
        json!({"room_id": ab, "content": "fwd", "extra_fields": {"is_forwarded": "true"}}),
        &mut [&mut bob],
    )
    .await;
    assert_eq!(sourceless["is_forwarded"], true);
    assert_eq!(sourceless["forwarded_from"], Value::Null);

    // An edit changes the content and nothing else, whatever else it sends.
    alice
        .emit(
            "message.modify",
            json!({"action": "update", "message_id": sent["id"], "extra_fields": {
                "content": "edited", "id": chosen_id, "sender_id": 2, "room_id": ac,
                "created_at": "2000-01-01T00:00:00Z", "is_deleted": true, "is_forwarded": true,
                "forwarded_from_id": source["id"], "parent_message_id": source["id"]}}),
        )
        .await;
    let edited = alice.recv_dispatch("messagemodification.dispatch").await;
    bob.recv_dispatch("messagemodification.dispatch").await;
    let mut expected = sent.clone();
    expected["content"] = json!("edited");
    expected["is_edited"] = json!(true);
    expected["updated_at"] = edited["message"]["updated_at"].clone();
    assert_eq!(edited["message"], expected);
    carol.assert_nothing_pending().await;
}

#[tokio::test]
async fn replies_and_forwards_need_a_source_the_sender_can_read() {
    // DECISIONS 21, for replies and for forwards.
    let app = spawn_app().await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let bc = create_one_to_one(&mut bob, 2, &mut carol, 3).await;
    let private = send_to(&mut alice, ab, "between alice and bob", &mut [&mut bob]).await;

    let access = denied("User is not authorized to access this message");
    for key in ["parent_message_id", "forwarded_from_id"] {
        carol
            .refused(
                "message.send",
                json!({"room_id": bc, "content": "x", "extra_fields": {key: private["id"]}}),
                access.clone(),
            )
            .await;
    }
    bob.assert_nothing_pending().await;

    // A member of the source's room may quote it anywhere (cross-room replies and forwards).
    for key in ["parent_message_id", "forwarded_from_id"] {
        let quoting = send_with(
            &mut bob,
            json!({"room_id": bc, "content": "between alice and bob",
                   "extra_fields": {key: private["id"]}}),
            &mut [&mut carol],
        )
        .await;
        let (nested, other) = if key == "parent_message_id" {
            ("parent_message", "forwarded_from")
        } else {
            ("forwarded_from", "parent_message")
        };
        assert_eq!(quoting[nested], private);
        assert_eq!(quoting[other], Value::Null);
        assert_eq!(quoting["is_forwarded"], key == "forwarded_from_id");
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn media_messages_keep_their_attachments_in_order() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let sent = send_with(
        &mut alice,
        json!({"room_id": room, "extra_fields": {"media": [
            {"media_url": "https://cdn.example.com/a.pdf", "media_type": "file",
             "mime_type": "application/pdf", "file_size": 10},
            {"media_url": "https://cdn.example.com/b.ogg", "media_type": "audio",
             "mime_type": "audio/ogg", "caption": "  ", "metadata": {"waveform": [1, 2]}}]}}),
        &mut [&mut bob],
    )
    .await;
    assert_eq!(sent["content"], "Media Files");
    let attachments: Vec<Value> = sent["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            common::assert_uuid(&a["id"]);
            let mut a = a.clone();
            a["id"] = json!("<id>");
            a
        })
        .collect();
    assert_eq!(
        attachments,
        [
            json!({"id": "<id>", "media_url": "https://cdn.example.com/a.pdf", "media_type": "file",
                   "file_size": 10, "mime_type": "application/pdf", "caption": null, "metadata": {}}),
            json!({"id": "<id>", "media_url": "https://cdn.example.com/b.ogg", "media_type": "audio",
                   "file_size": 0, "mime_type": "audio/ogg", "caption": "", "metadata": {"waveform": [1, 2]}}),
        ]
    );
    // History renders them the same.
    let answer = history(&mut bob, room, None).await;
    assert_eq!(answer["data"]["messages"][0], sent);
    // An empty media list is no media: content is required again.
    alice
        .refused(
            "message.send",
            json!({"room_id": room, "extra_fields": {"media": []}}),
            error(4003, json!({"content": ["This field is required."]})),
        )
        .await;
}

#[tokio::test]
async fn send_errors_come_in_the_order_of_the_table() {
    let app = spawn_app().await;
    let (mut alice, mut bob, room) = alice_and_bob(&app).await;
    let mut carol = app.user(3).await;
    let existing = send_to(&mut alice, room, "existing", &mut [&mut bob]).await;
    let id = existing["id"].clone();
    let missing = uuid::Uuid::new_v4();
    let image = json!({"media_url": "https://cdn.example.com/p.jpg", "media_type": "image"});
    let with = |extra: Value| json!({"room_id": room, "content": "x", "extra_fields": extra});
    let fields = |detail: Value| error(4003, detail);

    let cases = [
        // Rows 1–4: the frame and the target.
        (json!("x"), internal()),
        (
            json!({"room_id": true, "content": "x"}),
            rule("Invalid room_id type"),
        ),
        (
            json!({"room_id": false, "message_id": true}),
            rule("Invalid message_id type"),
        ),
        (json!({"room_id": "abc", "content": "x"}), not_a_uuid("abc")),
        (json!({"room_id": missing, "content": "x"}), not_found()),
        (json!({"message_id": missing, "content": "x"}), not_found()),
        // Row 6: extra_fields must be an object.
        (
            json!({"room_id": room, "content": "x", "extra_fields": null}),
            internal(),
        ),
        (
            json!({"room_id": room, "content": "x", "extra_fields": "x"}),
            internal(),
        ),
        // Row 7 comes before the content.
        (
            json!({"room_id": room, "content": " ", "extra_fields": {"media": {"a": 1}}}),
            rule("Media must be a list of media files"),
        ),
        // Row 8: posting through message_id passes the gate, then fails.
        (json!({"message_id": id, "content": "x"}), internal()),
        (
            json!({"room_id": "", "message_id": id, "content": "x"}),
            fields(json!({"room_id": ["This field may not be null."]})),
        ),
        // Row 11 (reply/forward ids), reported with content errors.
        (
            with(json!({"parent_message_id": missing})),
            fields(
                json!({"parent_message_id": [format!("Invalid pk \"{missing}\" - object does not exist.")]}),
            ),
        ),
        (
            json!({"room_id": room, "content": "", "extra_fields": {"parent_message_id": "abc",
                   "forwarded_from_id": true, "is_forwarded": "maybe"}}),
            fields(json!({"content": ["This field may not be blank."],
                          "parent_message_id": ["\u{201c}abc\u{201d} is not a valid UUID."],
                          "forwarded_from_id": ["Incorrect type. Expected pk value, received bool."],
                          "is_forwarded": ["Must be a valid boolean."]})),
        ),
        (
            with(json!({"forwarded_from_id": null})),
            fields(json!({"forwarded_from_id": ["This field may not be null."]})),
        ),
        // Row 11 before row 14: a bad reply id wins over bad media.
        (
            with(json!({"parent_message_id": missing, "media": [{"media_type": "gif"}]})),
            fields(
                json!({"parent_message_id": [format!("Invalid pk \"{missing}\" - object does not exist.")]}),
            ),
        ),
        // Row 12 before rows 13–14.
        (
            with(json!({"parent_message_id": id, "forwarded_from_id": id, "media": [1]})),
            constraint(),
        ),
        // Row 13, then row 14 keyed by item, valid items left out.
        (with(json!({"media": [image, 1]})), internal()),
        (
            with(
                json!({"media": [image, {"media_url": " ", "media_type": "gif"}, {},
                {"media_url": "u", "media_type": "file", "file_size": -1, "mime_type": "",
                 "caption": ["c"], "metadata": null},
                {"media_url": "u", "media_type": "video", "file_size": "big"}]}),
            ),
            fields(json!({
                "1": {"media_url": ["This field may not be blank."],
                      "media_type": ["\"gif\" is not a valid choice."]},
                "2": {"media_url": ["This field is required."],
                      "media_type": ["This field is required."]},
                "3": {"file_size": ["Ensure this value is greater than or equal to 0."],
                      "mime_type": ["This field may not be blank."],
                      "caption": ["Not a valid string."],
                      "metadata": ["This field may not be null."]},
                "4": {"file_size": ["A valid integer is required."]}})),
        ),
        // Row 15: a MIME type outside the list; nothing is stored.
        (
            with(
                json!({"media": [image, {"media_url": "u", "media_type": "file",
                                          "mime_type": "application/zip"}]}),
            ),
            constraint(),
        ),
    ];
    for (data, frame) in cases {
        alice.refused("message.send", data, frame).await;
    }
    // Row 5: a non-member is refused before anything about the body.
    carol
        .refused(
            "message.send",
            json!({"room_id": room, "extra_fields": "x"}),
            denied("User is not authorized to send message to this room"),
        )
        .await;

    bob.assert_nothing_pending().await;
    let answer = history(&mut alice, room, None).await;
    assert_eq!(answer["data"]["messages"], json!([existing]));
}

/// Every kind of body the checks before the write refuse, then a valid one: a sender who may
/// not post in the room (or a room that does not exist) gets that refusal for each of them,
/// whichever check of the body would fail (messages.md §1.5, §7.8 rows 4–5 before 6–15).
async fn a_refusal_to_post_comes_before_every_error_of_the_body(pipelined_sends: &str) {
    let app = spawn_app_with(&[("sessions.pipelined_sends", pipelined_sends)]).await;
    let (mut alice, mut bob, ab) = alice_and_bob(&app).await;
    let [mut carol, mut dave] = app.users([3, 4]).await;
    let existing = send_to(&mut alice, ab, "existing", &mut [&mut bob]).await;
    let locked = json!({"type": "GroupChat", "name": "Team", "participants": [2, 3],
                        "extra_fields": {"group_locked": true}});
    let locked =
        assert_uuid(&create_room(&mut alice, locked, &mut [&mut bob, &mut carol]).await["id"]);
    let channel = json!({"type": "Channel", "name": "News", "subscribers": [3]});
    let channel = assert_uuid(&create_room(&mut alice, channel, &mut [&mut carol]).await["id"]);
    let missing = uuid::Uuid::new_v4();
    let image = json!({"media_url": "https://cdn.example.com/p.jpg", "media_type": "image"});
    let zip = json!({"media_url": "u", "media_type": "file", "mime_type": "application/zip"});
    let bodies = [
        json!({"content": "x", "extra_fields": "x"}),
        json!({"content": " ", "extra_fields": {"media": {"a": 1}}}),
        json!({}),
        json!({"content": " "}),
        json!({"content": "x", "extra_fields": {"parent_message_id": missing}}),
        json!({"content": "x", "extra_fields": {"parent_message_id": "abc"}}),
        // A source the sender may not read (dave, carol), or may (bob).
        json!({"content": "x", "extra_fields": {"forwarded_from_id": existing["id"]}}),
        json!({"content": "x", "extra_fields": {"parent_message_id": existing["id"],
                                                "forwarded_from_id": existing["id"]}}),
        json!({"content": "x", "extra_fields": {"media": [image, 1]}}),
        json!({"content": "x", "extra_fields": {"media": [{"media_type": "gif"}]}}),
        // Refused only by the database's check, as it is written.
        json!({"content": "x", "extra_fields": {"media": [image, zip]}}),
        json!({"content": "x"}),
    ];
    let refused_to_post = denied(texts::SEND);
    let senders: [(&mut common::Client, uuid::Uuid, Value); 4] = [
        // Not a member of the one-to-one chat.
        (&mut dave, ab, refused_to_post.clone()),
        // A member of a locked group who is not its creator or an admin.
        (&mut bob, locked, refused_to_post.clone()),
        // A subscriber without `can_send_messages`.
        (&mut carol, channel, refused_to_post),
        (&mut alice, missing, not_found()),
    ];
    for (sender, room, refusal) in senders {
        // All of them at once: with pipelining, each is checked while the ones before it are
        // still being answered, and every answer still comes in order.
        for body in &bodies {
            let mut data = body.clone();
            data["room_id"] = json!(room);
            sender.emit("message.send", data).await;
        }
        for body in &bodies {
            assert_eq!(sender.recv().await, refusal, "{body} to {room}");
        }
        sender.assert_nothing_pending().await;
    }

    for client in [&mut bob, &mut carol, &mut dave] {
        client.assert_nothing_pending().await;
    }
    assert_eq!(
        history(&mut alice, ab, None).await["data"]["messages"],
        json!([existing])
    );
    for room in [locked, channel] {
        assert_eq!(
            history(&mut alice, room, None).await["data"]["messages"],
            json!([])
        );
    }
}

#[tokio::test]
async fn a_refusal_to_post_comes_before_every_error_of_the_body_one_send_at_a_time() {
    a_refusal_to_post_comes_before_every_error_of_the_body("1").await;
}

#[tokio::test]
async fn a_refusal_to_post_comes_before_every_error_of_the_body_pipelined() {
    a_refusal_to_post_comes_before_every_error_of_the_body("8").await;
}
