//! Room fixtures, so that each test reads as its scenario: several connected users at once,
//! rooms created through the protocol ("a group with these members"), the expected room
//! details, and the expected error frames ("this is refused with …").

use serde_json::{json, Value};
use uuid::Uuid;

use super::{assert_uuid, normalize_times, user_json, Client, TestApp};

impl TestApp {
    /// Connects each user once (every `chat.notifications` was `{}`), in order.
    pub async fn users<const N: usize>(&self, ids: [i64; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for id in ids {
            clients.push(self.user(id).await);
        }
        match clients.try_into() {
            Ok(clients) => clients,
            Err(_) => unreachable!("one client per id"),
        }
    }
}

impl Client {
    /// Sends the event; the very next frame must be `error` (see [`rule`], [`denied`], …).
    pub async fn refused(&mut self, event_type: &str, data: Value, error: Value) {
        self.emit(event_type, data.clone()).await;
        let got = self.recv().await;
        assert_eq!(got, error, "{event_type} {data}");
    }

    /// The next frame must be the dispatch `event_type`; returns its `data` with timestamps
    /// normalised (see [`normalize_times`]).
    pub async fn recv_normalized(&mut self, event_type: &str) -> Value {
        let mut data = self.recv_dispatch(event_type).await;
        normalize_times(&mut data);
        data
    }
}

/// `{"error": {"code": code, "detail": detail}}`.
pub fn error(code: u16, detail: Value) -> Value {
    json!({"error": {"code": code, "detail": detail}})
}

/// 4003 from a business rule: `[text]`.
pub fn rule(text: &str) -> Value {
    error(4003, json!([text]))
}

/// 4003 from field validation: `{field: [text]}`.
pub fn field(name: &str, text: &str) -> Value {
    error(4003, json!({ name: [text] }))
}

/// 4002 with the spec's text.
pub fn denied(text: &str) -> Value {
    error(4002, json!(text))
}

pub fn not_found() -> Value {
    error(4004, json!("Resource not found."))
}

pub fn internal() -> Value {
    error(4006, json!("Internal server error."))
}

pub fn constraint() -> Value {
    error(4005, json!("Database constraint violated."))
}

/// The 4002 texts of rooms.md Appendix A.
pub mod texts {
    pub const ACCESS_ROOM: &str = "User is not authorized access this room";
    pub const ADD_MEMBERS: &str = "User is not authorized to add new members to this room";
    pub const REMOVE_MEMBERS: &str = "User is not authorized to remove members from this room";
    pub const NOT_CREATOR: &str = "User is not the creator of this room";
    pub const NOT_ADMIN: &str = "User is not an admin of this room";
    pub const SEND: &str = "User is not authorized to send message to this room";
    pub const GROUP_FULL: &str = "Maximum number of group participants exceeded";
    pub const CHANNEL_FULL: &str = "Maximum number of channel subscribers exceeded";
}

/// `creator` sends `room.create` with `data`; `creator` and every client in `others` must
/// receive the same `roomcreate.dispatch`. Returns its data (timestamps as sent).
pub async fn create_room(creator: &mut Client, data: Value, others: &mut [&mut Client]) -> Value {
    creator.emit("room.create", data).await;
    let room = creator.recv_dispatch("roomcreate.dispatch").await;
    for other in others.iter_mut() {
        assert_eq!(other.recv_dispatch("roomcreate.dispatch").await, room);
    }
    assert_uuid(&room["id"]);
    room
}

/// A GroupChat named "Team" created by `creator` with `participants` (ids); `others` are the
/// connected clients among them, each of which receives the `roomcreate.dispatch`.
pub async fn create_group(
    creator: &mut Client,
    participants: &[i64],
    others: &mut [&mut Client],
) -> Uuid {
    let data = json!({"type": "GroupChat", "name": "Team", "participants": participants});
    assert_uuid(&create_room(creator, data, others).await["id"])
}

/// A Channel named "News" created by `creator` with `subscribers`, public or not.
pub async fn create_channel(
    creator: &mut Client,
    subscribers: &[i64],
    public: bool,
    others: &mut [&mut Client],
) -> Uuid {
    let data = json!({"type": "Channel", "name": "News", "subscribers": subscribers,
                      "extra_fields": {"is_public": public}});
    assert_uuid(&create_room(creator, data, others).await["id"])
}

fn users(ids: &[i64]) -> Value {
    Value::Array(ids.iter().map(|id| user_json(*id)).collect())
}

/// The normalised detail of a GroupChat "Team" made by [`create_group`]: no description or
/// avatar, default cap, unlocked, empty preferences. Adjust with [`merged`].
pub fn group_json(id: Uuid, creator: i64, participants: &[i64], admins: &[i64]) -> Value {
    json!({"id": id, "creator": user_json(creator), "participants": users(participants),
           "property": {"preferences": {}}, "admins": users(admins),
           "created_at": "<ts>", "updated_at": "<ts>", "name": "Team", "description": null,
           "max_participants": 100, "avatar": null, "join_approval_required": false,
           "group_locked": false, "type": "GroupChat"})
}

/// The normalised detail of a Channel "News" made by [`create_channel`].
pub fn channel_json(
    id: Uuid,
    creator: i64,
    subscribers: &[i64],
    moderators: &[i64],
    public: bool,
) -> Value {
    json!({"id": id, "creator": user_json(creator), "subscribers": users(subscribers),
           "property": {"preferences": {}}, "moderators": users(moderators),
           "created_at": "<ts>", "updated_at": "<ts>", "name": "News", "description": null,
           "is_public": public, "avatar": null, "max_subscribers": 300, "type": "Channel"})
}

/// A `roominfo.dispatch`: the room's detail and the asker's `unread_count` (ours, additive).
pub fn info_json(detail: Value, unread_count: u64) -> Value {
    merged(detail, json!({"unread_count": unread_count}))
}

/// `base` with the keys of `patch` replaced.
pub fn merged(mut base: Value, patch: Value) -> Value {
    if let (Some(base), Value::Object(patch)) = (base.as_object_mut(), patch) {
        base.extend(patch);
    }
    base
}

/// The ids of a user array (`participants`, `subscribers`, `admins`, `moderators`).
pub fn ids_of(users: &Value) -> Vec<i64> {
    users
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {users}"))
        .iter()
        .map(|u| u["id"].as_i64().expect("user id"))
        .collect()
}
