//! `room.create` for groups and channels (and the pair race of one-to-one chats): the exact
//! details every member receives, who does not receive them, every optional field, the caps,
//! the creator's role, and the error texts in the reference's order.

mod common;

use common::rooms::{
    channel_json, constraint, create_room, error, field, group_json, internal, merged, rule, texts,
};
use common::{normalize_times, spawn_app, spawn_app_with, user_json};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn creating_a_group_tells_every_member_the_full_detail_and_nobody_else() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;

    let mut room = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Project Team", "description": "Discussion for Project X",
               "participants": [2, 3],
               "extra_fields": {"join_approval_required": false, "group_locked": false,
                                "property": {"preferences": {"notifications": true}}}}),
        &mut [&mut bob, &mut carol],
    )
    .await;

    let id = Uuid::parse_str(room["id"].as_str().unwrap()).unwrap();
    normalize_times(&mut room);
    assert_eq!(
        room,
        merged(
            group_json(id, 1, &[1, 2, 3], &[1]),
            json!({"name": "Project Team", "description": "Discussion for Project X",
                   "property": {"preferences": {"notifications": true}}})
        )
    );
    dave.assert_nothing_pending().await;
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn creating_a_channel_makes_the_creator_its_moderator_and_echoes_every_field() {
    let app = spawn_app().await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;

    let mut room = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "Announcements", "description": "Company-wide updates",
               "subscribers": [4, 2],
               "extra_fields": {"is_public": true, "max_subscribers": 10,
                                "avatar": "https://cdn.example.com/a.png",
                                "property": {"preferences": {}}}}),
        &mut [&mut bob, &mut dave],
    )
    .await;
    let id = Uuid::parse_str(room["id"].as_str().unwrap()).unwrap();
    normalize_times(&mut room);
    assert_eq!(
        room,
        json!({"id": id, "creator": user_json(1),
               "subscribers": [user_json(1), user_json(2), user_json(4)],
               "property": {"preferences": {}}, "moderators": [user_json(1)],
               "created_at": "<ts>", "updated_at": "<ts>",
               "name": "Announcements", "description": "Company-wide updates",
               "is_public": true, "avatar": "https://cdn.example.com/a.png",
               "max_subscribers": 10, "type": "Channel"})
    );
    carol.assert_nothing_pending().await;
}

#[tokio::test]
async fn extra_fields_override_the_top_level_and_accept_the_reference_coercions() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;

    let mut room = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Top", "description": "", "avatar": "",
               "group_locked": true, "is_public": true,
               "extra_fields": {"name": "  Extra  ", "max_participants": "10",
                                "join_approval_required": "yes", "group_locked": 0}}),
        &mut [],
    )
    .await;
    let id = Uuid::parse_str(room["id"].as_str().unwrap()).unwrap();
    normalize_times(&mut room);
    // is_public is not a group field; blank description and avatar are kept as given.
    assert_eq!(
        room,
        merged(
            group_json(id, 1, &[1], &[1]),
            json!({"name": "Extra", "description": "", "avatar": "", "max_participants": 10,
                   "join_approval_required": true, "group_locked": false})
        )
    );

    let mut channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": 42, "is_public": "on", "max_subscribers": 7.0,
               "group_locked": "not a channel field"}),
        &mut [],
    )
    .await;
    normalize_times(&mut channel);
    assert_eq!(channel["name"], "42");
    assert_eq!(channel["is_public"], true);
    assert_eq!(channel["max_subscribers"], 7);
}

#[tokio::test]
async fn unknown_members_are_dropped_and_a_room_may_hold_only_its_creator() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;

    // Scenario 7 of rooms.md §17: preferences and no participants.
    let mut group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team",
               "extra_fields": {"property": {"preferences": {"theme": "dark"}}}}),
        &mut [],
    )
    .await;
    normalize_times(&mut group);
    assert_eq!(group["property"], json!({"preferences": {"theme": "dark"}}));
    assert_eq!(group["participants"], json!([user_json(1)]));

    // Unknown ids, the creator's own id, other JSON types and a non-array are all harmless.
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "participants": [999, "1", 1, 2.5, null, "2"]}),
        &mut [&mut bob],
    )
    .await;
    assert_eq!(group["participants"], json!([user_json(1), user_json(2)]));
    let channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "subscribers": "2", "participants": [2]}),
        &mut [],
    )
    .await;
    assert_eq!(channel["subscribers"], json!([user_json(1)]));
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn caps_default_to_the_settings_and_refuse_too_many_initial_members() {
    let app = spawn_app_with(&[
        ("rooms.default_max_participants", "3"),
        ("rooms.default_max_subscribers", "2"),
    ])
    .await;
    let [mut alice, mut bob, mut carol, mut dave] = app.users([1, 2, 3, 4]).await;

    alice
        .refused(
            "room.create",
            json!({"type": "GroupChat", "name": "Team", "participants": [2, 3, 4]}),
            rule(&format!("['{}']", texts::GROUP_FULL)),
        )
        .await;
    alice
        .refused(
            "room.create",
            json!({"type": "Channel", "name": "News", "subscribers": [2, 3]}),
            rule(&format!("['{}']", texts::CHANNEL_FULL)),
        )
        .await;
    // Reaching the cap is fine; the creator counts.
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "participants": [2, 3]}),
        &mut [&mut bob, &mut carol],
    )
    .await;
    assert_eq!(group["max_participants"], 3);
    let channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "subscribers": [4]}),
        &mut [&mut dave],
    )
    .await;
    assert_eq!(channel["max_subscribers"], 2);
    // A cap of 0 cannot hold even the creator (single brackets, as the reference).
    alice
        .refused(
            "room.create",
            json!({"type": "GroupChat", "name": "Team", "max_participants": 0}),
            rule(texts::GROUP_FULL),
        )
        .await;
    alice
        .refused(
            "room.create",
            json!({"type": "Channel", "name": "News", "extra_fields": {"max_subscribers": 0}}),
            rule(texts::CHANNEL_FULL),
        )
        .await;

    // Nothing half-created: only the two rooms that were dispatched exist.
    alice.emit("room.list", json!({})).await;
    let list = alice.recv_dispatch("roomlist.dispatch").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    for c in [&mut bob, &mut carol, &mut dave] {
        c.assert_nothing_pending().await;
    }
}

#[tokio::test]
async fn field_errors_use_the_reference_texts_and_come_together() {
    let app = spawn_app().await;
    let [mut alice, _bob] = app.users([1, 2]).await;
    let group = |extra: Value| merged(json!({"type": "GroupChat", "name": "Team"}), extra);
    let long = "x".repeat(65);
    let cases = [
        // The name must be at the top level, even when extra_fields has one.
        (
            json!({"type": "GroupChat", "extra_fields": {"name": "Team"}}),
            field("name", "This field is required."),
        ),
        (
            json!({"type": "Channel", "name": "   "}),
            field("name", "This field may not be blank."),
        ),
        (
            group(json!({"name": long})),
            field("name", "Ensure this field has no more than 64 characters."),
        ),
        (
            group(json!({"name": null})),
            field("name", "This field may not be null."),
        ),
        (
            group(json!({"name": ["Team"]})),
            field("name", "Not a valid string."),
        ),
        (
            group(json!({"avatar": "not a url"})),
            field("avatar", "Enter a valid URL."),
        ),
        (
            group(json!({"avatar": format!("https://example.com/{}", "a".repeat(190))})),
            field(
                "avatar",
                "Ensure this field has no more than 200 characters.",
            ),
        ),
        (
            group(json!({"group_locked": "maybe"})),
            field("group_locked", "Must be a valid boolean."),
        ),
        (
            group(json!({"max_participants": "many"})),
            field("max_participants", "A valid biginteger is required."),
        ),
        (
            group(json!({"max_participants": -1})),
            field(
                "max_participants",
                "Ensure this value is greater than or equal to 0.",
            ),
        ),
        (
            group(json!({"max_participants": null})),
            field("max_participants", "This field may not be null."),
        ),
        (
            json!({"type": "Channel", "name": "News", "is_public": null}),
            field("is_public", "This field may not be null."),
        ),
        (
            group(json!({"id": "nope"})),
            field("id", "Must be a valid UUID."),
        ),
        // Every field error of one level at once.
        (
            json!({"type": "Channel", "name": "", "avatar": "x", "max_subscribers": -5}),
            error(
                4003,
                json!({"name": ["This field may not be blank."], "avatar": ["Enter a valid URL."],
                       "max_subscribers": ["Ensure this value is greater than or equal to 0."]}),
            ),
        ),
        // The merged values are checked after the top level.
        (
            group(json!({"extra_fields": {"name": ""}})),
            field("name", "This field may not be blank."),
        ),
        (group(json!({"extra_fields": null})), internal()),
        (
            group(json!({"extra_fields": {"property": "dark"}})),
            rule("Room property must be a python dictionary/javascript object"),
        ),
        (
            group(json!({"extra_fields": {"property": {"preferences": "dark"}}})),
            rule("preferences must be a python dictionary/javascript object"),
        ),
        (
            group(json!({"extra_fields": {"property": {"preferences": null}}})),
            field("preferences", "This field may not be null."),
        ),
        (
            group(json!({"extra_fields": {"property": null}})),
            field("non_field_errors", "No data provided"),
        ),
        // A cap of 0 is checked before null preferences (rooms.md §6.5 steps 6 and 7).
        (
            group(json!({"max_participants": 0,
                         "extra_fields": {"property": {"preferences": null}}})),
            rule(texts::GROUP_FULL),
        ),
        (
            group(json!({"participants": [2, "bob"]})),
            rule("Field 'id' expected a number but got 'bob'."),
        ),
        (json!({"type": "GroupChat "}), rule("Invalid resource type")),
        (json!(["GroupChat"]), internal()),
    ];
    for (data, want) in cases {
        alice.refused("room.create", data, want).await;
    }
    alice.emit("room.list", json!({})).await;
    assert_eq!(alice.recv_dispatch("roomlist.dispatch").await, json!([]));
}

#[tokio::test]
async fn top_level_preferences_is_an_alias_of_property_preferences() {
    let app = spawn_app().await;
    let [mut alice] = app.users([1]).await;
    let room = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "preferences": {"theme": "dark"}}),
        &mut [],
    )
    .await;
    assert_eq!(room["property"], json!({"preferences": {"theme": "dark"}}));
    // property.preferences wins when both are given.
    let room = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "preferences": {"theme": "dark"},
               "extra_fields": {"property": {"preferences": {"theme": "light"}}}}),
        &mut [],
    )
    .await;
    assert_eq!(room["property"], json!({"preferences": {"theme": "light"}}));
}

#[tokio::test]
async fn a_client_chosen_id_is_used_and_a_clash_is_a_constraint_violation() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let id = Uuid::new_v4();
    let mut room = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "extra_fields": {"id": id.simple().to_string()}}),
        &mut [],
    )
    .await;
    normalize_times(&mut room);
    assert_eq!(room, channel_json(id, 1, &[1], &[1], false));

    // DECISIONS 15: the clash answers 4005, whatever the room type; nobody hears anything.
    bob.refused(
        "room.create",
        json!({"type": "GroupChat", "name": "Team", "participants": [1], "id": id}),
        constraint(),
    )
    .await;
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn the_creator_is_admin_or_moderator_with_the_role_permissions() {
    let app = spawn_app().await;
    let [mut alice, mut bob] = app.users([1, 2]).await;
    let group = create_room(
        &mut alice,
        json!({"type": "GroupChat", "name": "Team", "participants": [2]}),
        &mut [&mut bob],
    )
    .await;
    let channel = create_room(
        &mut alice,
        json!({"type": "Channel", "name": "News", "subscribers": [2]}),
        &mut [&mut bob],
    )
    .await;

    let db = app.db().await;
    for (room, codenames) in [
        (
            &group,
            vec!["can_add_new_participants", "can_remove_participants"],
        ),
        (
            &channel,
            vec![
                "can_add_new_subscribers",
                "can_remove_subscribers",
                "can_send_messages",
            ],
        ),
    ] {
        let id = Uuid::parse_str(room["id"].as_str().unwrap()).unwrap();
        let stored = chatd::store::rooms::load(&db, id).await.unwrap().unwrap();
        assert_eq!(stored.creator, Some(1));
        assert_eq!(stored.members.into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(stored.managers.into_iter().collect::<Vec<_>>(), vec![1]);
        let mut held: Vec<(i64, &str)> = stored
            .permissions
            .iter()
            .map(|(u, p)| (*u, p.as_str()))
            .collect();
        held.sort();
        let mut want: Vec<(i64, &str)> = codenames.into_iter().map(|c| (1, c)).collect();
        want.sort();
        assert_eq!(held, want);
    }
}

#[tokio::test]
async fn simultaneous_creates_of_the_same_pair_make_one_room_and_the_others_are_refused() {
    let app = spawn_app().await;
    let [mut alice, mut alice_tablet, mut bob, mut bob_tablet] = app.users([1, 1, 2, 2]).await;
    let mut clients = [
        (&mut alice, 2),
        (&mut alice_tablet, 2),
        (&mut bob, 1),
        (&mut bob_tablet, 1),
    ];
    for (client, peer) in clients.iter_mut() {
        client
            .emit(
                "room.create",
                json!({"type": "OneToOneChat", "participants": [*peer]}),
            )
            .await;
    }
    // Every connection hears about the one room; each losing creation gets the error. A
    // connection's own answer comes before its heartbeat's; the winner's dispatch may come
    // later.
    let exists = rule("['Chat already exists']");
    let mut errors = 0;
    let mut rooms = Vec::new();
    for (client, _) in clients.iter_mut() {
        client.emit("session.heartbeat", json!({})).await;
        let mut room = None;
        loop {
            let frame = client.recv().await;
            if frame == json!({"status": "success"}) {
                break;
            } else if frame == exists {
                errors += 1;
            } else {
                assert_eq!(frame["eventType"], "roomcreate.dispatch", "{frame}");
                room = Some(frame["data"]["id"].clone());
            }
        }
        let room = match room {
            Some(room) => room,
            None => client.recv_dispatch("roomcreate.dispatch").await["id"].clone(),
        };
        rooms.push(room);
    }
    assert_eq!(errors, 3);
    assert!(rooms.iter().all(|r| *r == rooms[0]), "{rooms:?}");
    let stored = chatd::store::rooms::find_one_to_one(&app.db().await, 1, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json!(stored.id), rooms[0]);
    for (client, _) in clients.iter_mut() {
        client.assert_nothing_pending().await;
    }
}
