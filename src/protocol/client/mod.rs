//! Client → server frames: `{"event_type": "...", "data": {...}}` decoded into typed events.
//!
//! Decoding is split in two so that errors come out in the reference's order: what is checked
//! before the authorisation gate is decoded here (one module per event family), what is
//! validated after it (message bodies) is decoded by the `parse_*` functions the event handlers
//! call once the gate has passed.

mod fields;
mod messages;
mod rooms;

use serde_json::Value;
use uuid::Uuid;

use super::errors::ChatError;

pub use fields::{coerce_bool, truthy, FieldErrors};
pub use messages::{
    parse_edit, parse_media, parse_page_request, parse_reaction, parse_send_body, MediaItem,
    MessageModify, MessageReact, MessageRead, MessageSend, ModifyAction, PageRequest,
    ReactionChange, RoomMessages, SendBody, SendTarget, NO_EDIT_CONTENT,
};
pub use rooms::{
    member_list, python_repr, MemberRef, Profile, RoomCreate, RoomModify, RoomModifyAction,
    RoomUpdate,
};

/// The client events: all sixteen of the reference. Any other event name answers
/// `{"error": "invalid event type"}`, as the reference does.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    SessionHeartbeat,
    RoomCreate(Box<RoomCreate>),
    RoomList,
    RoomInfo {
        room_id: Uuid,
    },
    RoomJoin {
        room_id: Uuid,
    },
    RoomLeave {
        room_id: Uuid,
    },
    /// `members` is checked after the gate.
    RoomAddMembers {
        room_id: Uuid,
        members: Result<Vec<Option<i64>>, ChatError>,
    },
    RoomRemoveMembers {
        room_id: Uuid,
        members: Result<Vec<Option<i64>>, ChatError>,
    },
    RoomModify(RoomModify),
    MessageSend(MessageSend),
    MessageAcknowledged {
        message_ids: Vec<Uuid>,
    },
    MessageModify(MessageModify),
    MessageReact(MessageReact),
    MessageRead(MessageRead),
    MessageTyping(SendTarget),
    RoomMessages(RoomMessages),
}

/// Every `event_type` the spec defines (rooms.md §1.2): the bounded set of names that metrics
/// label frames with (any other name is counted as `unknown`).
pub const EVENT_TYPES: [&str; 16] = [
    "message.send",
    "message.modify",
    "message.react",
    "message.read",
    "message.acknowledged",
    "message.typing",
    "room.messages",
    "session.heartbeat",
    "room.create",
    "room.list",
    "room.info",
    "room.add_members",
    "room.remove_members",
    "room.join",
    "room.leave",
    "room.modify",
];

/// The spec's name for the `event_type` of a frame that did not decode, if it names one.
/// Only failed frames are parsed a second time for this.
pub fn event_type_of(text: &str) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        event_type: std::borrow::Cow<'a, str>,
    }
    let probe: Probe = serde_json::from_str(text).ok()?;
    EVENT_TYPES
        .into_iter()
        .find(|name| *name == probe.event_type)
}

impl ClientEvent {
    /// The event's `event_type`.
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::SessionHeartbeat => "session.heartbeat",
            ClientEvent::RoomCreate(_) => "room.create",
            ClientEvent::RoomList => "room.list",
            ClientEvent::RoomInfo { .. } => "room.info",
            ClientEvent::RoomJoin { .. } => "room.join",
            ClientEvent::RoomLeave { .. } => "room.leave",
            ClientEvent::RoomAddMembers { .. } => "room.add_members",
            ClientEvent::RoomRemoveMembers { .. } => "room.remove_members",
            ClientEvent::RoomModify(_) => "room.modify",
            ClientEvent::MessageSend(_) => "message.send",
            ClientEvent::MessageAcknowledged { .. } => "message.acknowledged",
            ClientEvent::MessageModify(_) => "message.modify",
            ClientEvent::MessageReact(_) => "message.react",
            ClientEvent::MessageRead(_) => "message.read",
            ClientEvent::MessageTyping(_) => "message.typing",
            ClientEvent::RoomMessages(_) => "room.messages",
        }
    }

    /// Decodes one text frame. Errors about the frame itself come first, then the event name,
    /// then whatever each event checks before its gate.
    pub fn decode(text: &str) -> Result<ClientEvent, ChatError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ChatError::InvalidFrame(format!("not valid JSON ({e})")))?;
        let Value::Object(mut frame) = value else {
            return Err(ChatError::InvalidFrame("expected a JSON object".into()));
        };
        let data = frame.remove("data").unwrap_or(Value::Null);
        let event_type = match frame.get("event_type") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(ChatError::InvalidEventType),
        };
        match event_type {
            "session.heartbeat" => Ok(ClientEvent::SessionHeartbeat),
            "room.list" => Ok(ClientEvent::RoomList),
            "room.create" => RoomCreate::decode(data).map(|c| ClientEvent::RoomCreate(Box::new(c))),
            "room.info" => {
                let data = fields::object(data)?;
                let room_id = fields::checked_room_id(&data)?;
                Ok(ClientEvent::RoomInfo { room_id })
            }
            "room.join" => {
                let data = fields::object(data)?;
                let room_id = rooms::unchecked_room_id(&data)?;
                Ok(ClientEvent::RoomJoin { room_id })
            }
            "room.leave" => {
                let data = fields::object(data)?;
                let room_id = fields::checked_room_id(&data)?;
                Ok(ClientEvent::RoomLeave { room_id })
            }
            "room.add_members" | "room.remove_members" => {
                let data = fields::object(data)?;
                let room_id = fields::checked_room_id(&data)?;
                let members = member_list(data.get("members"));
                Ok(if event_type == "room.add_members" {
                    ClientEvent::RoomAddMembers { room_id, members }
                } else {
                    ClientEvent::RoomRemoveMembers { room_id, members }
                })
            }
            "room.modify" => RoomModify::decode(data).map(ClientEvent::RoomModify),
            "message.send" => MessageSend::decode(data).map(ClientEvent::MessageSend),
            "message.acknowledged" => {
                let data = fields::object(data)?;
                let message_ids = fields::message_ids(data.get("message_id"))?;
                Ok(ClientEvent::MessageAcknowledged { message_ids })
            }
            "message.modify" => MessageModify::decode(data).map(ClientEvent::MessageModify),
            "message.react" => MessageReact::decode(data).map(ClientEvent::MessageReact),
            "message.read" => MessageRead::decode(data).map(ClientEvent::MessageRead),
            "message.typing" => {
                let data = fields::object(data)?;
                SendTarget::decode(&data).map(ClientEvent::MessageTyping)
            }
            "room.messages" => RoomMessages::decode(data).map(ClientEvent::RoomMessages),
            _ => Err(ChatError::InvalidEventType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Result<ClientEvent, ChatError> {
        ClientEvent::decode(&v.to_string())
    }

    #[test]
    fn unknown_and_non_string_event_types_are_invalid() {
        for et in [
            json!("nope"),
            json!(null),
            json!(3),
            json!(true),
            json!(["x"]),
        ] {
            assert_eq!(
                decode(json!({"event_type": et, "data": {}})),
                Err(ChatError::InvalidEventType)
            );
        }
        assert_eq!(
            decode(json!({"data": {}})),
            Err(ChatError::InvalidEventType)
        );
    }

    #[test]
    fn non_object_frames_are_invalid_frames() {
        assert!(matches!(
            ClientEvent::decode("{nope"),
            Err(ChatError::InvalidFrame(_))
        ));
        assert!(matches!(
            ClientEvent::decode("[1,2]"),
            Err(ChatError::InvalidFrame(_))
        ));
    }

    #[test]
    fn room_info_checks_room_id_type_then_shape() {
        let data_not_object = decode(json!({"event_type": "room.info", "data": []}));
        assert_eq!(data_not_object, Err(ChatError::Internal));
        let missing = decode(json!({"event_type": "room.info", "data": {}}));
        assert_eq!(missing, Err(ChatError::rule("Invalid room_id type")));
        let boolean = decode(json!({"event_type": "room.info", "data": {"room_id": true}}));
        assert_eq!(boolean, Err(ChatError::rule("Invalid room_id type")));
        let bad = decode(json!({"event_type": "room.info", "data": {"room_id": "abc"}}));
        assert_eq!(
            bad,
            Err(ChatError::rule("\u{201c}abc\u{201d} is not a valid UUID."))
        );
    }

    #[test]
    fn send_without_room_id_falls_back_to_message_id() {
        let e = decode(json!({"event_type": "message.send", "data": {"content": "x"}}));
        assert_eq!(e, Err(ChatError::rule("Invalid message_id type")));
    }

    #[test]
    fn every_decoded_event_is_named_by_the_spec_list() {
        let room = "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d";
        for frame in [
            json!({"event_type": "session.heartbeat", "data": {}}),
            json!({"event_type": "room.create", "data": {"type": "OneToOneChat", "participants": [2]}}),
            json!({"event_type": "room.list"}),
            json!({"event_type": "room.info", "data": {"room_id": room}}),
            json!({"event_type": "message.send", "data": {"room_id": room, "content": "x"}}),
            json!({"event_type": "message.acknowledged", "data": {"message_id": [room]}}),
            json!({"event_type": "message.modify", "data": {"message_id": room, "action": "delete"}}),
            json!({"event_type": "message.react", "data": {"message_id": room, "type": "remove"}}),
            json!({"event_type": "message.read", "data": {"message_id": room}}),
            json!({"event_type": "message.typing", "data": {"room_id": room}}),
            json!({"event_type": "room.messages", "data": {"room_id": room}}),
            json!({"event_type": "room.join", "data": {"room_id": room}}),
            json!({"event_type": "room.leave", "data": {"room_id": room}}),
            json!({"event_type": "room.add_members", "data": {"room_id": room, "members": [2]}}),
            json!({"event_type": "room.remove_members", "data": {"room_id": room, "members": [2]}}),
            json!({"event_type": "room.modify", "data": {"room_id": room, "action": "delete"}}),
        ] {
            let event = decode(frame.clone()).unwrap_or_else(|e| panic!("{frame}: {e:?}"));
            assert_eq!(event.name(), frame["event_type"]);
            assert!(EVENT_TYPES.contains(&event.name()));
        }
    }

    #[test]
    fn undecoded_frames_are_named_only_by_spec_event_types() {
        let join = r#"{"event_type": "room.join", "data": {}}"#;
        assert_eq!(event_type_of(join), Some("room.join"));
        assert_eq!(event_type_of(r#"{"event_type": "room.destroy"}"#), None);
        assert_eq!(event_type_of(r#"{"event_type": 1}"#), None);
        assert_eq!(event_type_of("not json"), None);
    }
}
