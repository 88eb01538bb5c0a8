//! Client → server frames: `{"event_type": "...", "data": {...}}` decoded into typed events.
//!
//! Decoding is split in two so that errors come out in the reference's order: what is checked
//! before the authorisation gate is decoded here, what is validated after it (message bodies)
//! is decoded by the `parse_*` functions the event handlers call once the gate has passed.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::errors::ChatError;
use super::ids::{parse_id, parse_uuid_str};

/// The client events this server implements. The reference's other event names answer
/// `{"error": "invalid event type"}` until they are implemented (docs/protocol-notes.md).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    SessionHeartbeat,
    RoomCreate(Box<RoomCreate>),
    RoomList,
    RoomInfo { room_id: Uuid },
    MessageSend(MessageSend),
    MessageAcknowledged { message_ids: Vec<Uuid> },
}

impl ClientEvent {
    /// Decodes one text frame. Errors about the frame itself come first, then the event name,
    /// then whatever each event checks before its gate.
    pub fn decode(text: &str) -> Result<ClientEvent, ChatError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ChatError::InvalidFrame(format!("not valid JSON ({e})")))?;
        let Value::Object(mut frame) = value else {
            return Err(ChatError::InvalidFrame("expected a JSON object".into()));
        };
        let event_type = match frame.get("event_type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(ChatError::InvalidEventType),
        };
        let data = frame.remove("data").unwrap_or(Value::Null);
        match event_type.as_str() {
            "session.heartbeat" => Ok(ClientEvent::SessionHeartbeat),
            "room.list" => Ok(ClientEvent::RoomList),
            "room.create" => RoomCreate::decode(data).map(|c| ClientEvent::RoomCreate(Box::new(c))),
            "room.info" => {
                let data = object(data)?;
                let room_id = match data.get("room_id") {
                    Some(v @ (Value::String(_) | Value::Number(_))) => {
                        parse_id(v, "Invalid room_id type")?
                    }
                    _ => return Err(ChatError::rule("Invalid room_id type")),
                };
                Ok(ClientEvent::RoomInfo { room_id })
            }
            "message.send" => MessageSend::decode(data).map(ClientEvent::MessageSend),
            "message.acknowledged" => {
                let data = object(data)?;
                let message_ids = message_ids(data.get("message_id"))?;
                Ok(ClientEvent::MessageAcknowledged { message_ids })
            }
            _ => Err(ChatError::InvalidEventType),
        }
    }
}

/// Handlers read fields from `data`; anything but an object is the reference's 4006.
fn object(data: Value) -> Result<Map<String, Value>, ChatError> {
    match data {
        Value::Object(map) => Ok(map),
        _ => Err(ChatError::Internal),
    }
}

/// Python truthiness, which the reference's `if data.get(...)` checks use.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `message_id`: one id or an array of ids, de-duplicated in request order.
fn message_ids(value: Option<&Value>) -> Result<Vec<Uuid>, ChatError> {
    const TYPE_ERROR: &str = "Invalid message_id type";
    let ids = match value {
        Some(v @ (Value::String(_) | Value::Number(_))) => vec![parse_id(v, TYPE_ERROR)?],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| parse_id(v, TYPE_ERROR))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ChatError::rule(TYPE_ERROR)),
    };
    let mut seen = std::collections::HashSet::new();
    Ok(ids.into_iter().filter(|id| seen.insert(*id)).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    OneToOneChat,
    GroupChat,
    Channel,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::OneToOneChat => "OneToOneChat",
            RoomKind::GroupChat => "GroupChat",
            RoomKind::Channel => "Channel",
        }
    }

    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "OneToOneChat" => Some(RoomKind::OneToOneChat),
            "GroupChat" => Some(RoomKind::GroupChat),
            "Channel" => Some(RoomKind::Channel),
            _ => None,
        }
    }
}

/// A member id from `participants`/`subscribers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    Id(i64),
    /// A non-numeric string: rejected when members are added, as the reference does.
    NotANumber(String),
    /// Any other JSON value: silently dropped like an unknown id.
    Ignored,
}

/// `room.create`, validated up to the point where the database is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomCreate {
    pub kind: RoomKind,
    /// A client-chosen room id.
    pub id: Option<Uuid>,
    pub members: Vec<MemberRef>,
    pub preferences: Value,
}

impl RoomCreate {
    fn decode(data: Value) -> Result<RoomCreate, ChatError> {
        let data = object(data)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .and_then(RoomKind::parse)
            .ok_or_else(|| ChatError::rule("Invalid resource type"))?;
        if kind != RoomKind::OneToOneChat {
            // Groups and channels arrive with roles, caps and permissions (docs/protocol-notes.md).
            return Err(ChatError::rule("Invalid resource type"));
        }
        check_room_id_field(data.get("id"))?;

        let extra = match data.get("extra_fields") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ChatError::Internal),
        };
        let preferences = preferences(extra.get("property"))?;
        // extra_fields overrides top-level keys of the same name.
        let merged = |key: &str| extra.get(key).or_else(|| data.get(key)).cloned();
        let id = match merged("id") {
            Some(v) => check_room_id_field(Some(&v))?,
            None => None,
        };
        let members = match merged("participants") {
            Some(Value::Array(items)) => items.iter().map(member_ref).collect(),
            _ => Vec::new(),
        };
        Ok(RoomCreate {
            kind,
            id,
            members,
            preferences,
        })
    }
}

fn check_room_id_field(value: Option<&Value>) -> Result<Option<Uuid>, ChatError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_uuid_str(s)
            .map(Some)
            .ok_or_else(|| ChatError::field("id", "Must be a valid UUID.")),
        Some(_) => Err(ChatError::field("id", "Must be a valid UUID.")),
    }
}

/// `extra_fields.property.preferences` with the reference's error texts. Non-object
/// preferences are refused outright (the reference stores falsy ones verbatim).
fn preferences(property: Option<&Value>) -> Result<Value, ChatError> {
    let property = match property {
        None => return Ok(Value::Object(Map::new())),
        Some(Value::Null) => return Err(ChatError::field("non_field_errors", "No data provided")),
        Some(Value::Object(p)) => p,
        Some(p) if !truthy(p) => return Ok(Value::Object(Map::new())),
        Some(_) => {
            return Err(ChatError::rule(
                "Room property must be a python dictionary/javascript object",
            ))
        }
    };
    match property.get("preferences") {
        None => Ok(Value::Object(Map::new())),
        Some(Value::Null) => Err(ChatError::field(
            "preferences",
            "This field may not be null.",
        )),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(ChatError::rule(
            "preferences must be a python dictionary/javascript object",
        )),
    }
}

fn member_ref(v: &Value) -> MemberRef {
    match v {
        Value::Number(n) => n.as_i64().map(MemberRef::Id).unwrap_or(MemberRef::Ignored),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(id) => MemberRef::Id(id),
            Err(_) => MemberRef::NotANumber(s.clone()),
        },
        _ => MemberRef::Ignored,
    }
}

/// Where a `message.send` goes, as decided before the gate.
#[derive(Debug, Clone, PartialEq)]
pub enum SendTarget {
    Room(Uuid),
    /// No `room_id`: the reference authorises through `message_id`'s room, then fails.
    ViaMessage {
        message_id: Uuid,
        room_id_key_present: bool,
    },
}

/// `message.send`: the target is decoded now, the body after the gate ([`parse_send_body`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSend {
    pub target: SendTarget,
    pub data: Map<String, Value>,
}

impl MessageSend {
    fn decode(data: Value) -> Result<MessageSend, ChatError> {
        let data = object(data)?;
        let target = match data.get("room_id") {
            Some(v) if truthy(v) => match v {
                Value::String(_) | Value::Number(_) => {
                    SendTarget::Room(parse_id(v, "Invalid room_id type")?)
                }
                _ => return Err(ChatError::rule("Invalid room_id type")),
            },
            room_id => {
                let message_id = match data.get("message_id") {
                    Some(v @ (Value::String(_) | Value::Number(_))) => {
                        parse_id(v, "Invalid message_id type")?
                    }
                    _ => return Err(ChatError::rule("Invalid message_id type")),
                };
                SendTarget::ViaMessage {
                    message_id,
                    room_id_key_present: room_id.is_some(),
                }
            }
        };
        Ok(MessageSend { target, data })
    }
}

/// A validated attachment of `extra_fields.media`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaItem {
    pub media_url: String,
    pub media_type: String,
    pub file_size: i64,
    pub mime_type: String,
    pub caption: Option<String>,
    pub metadata: Value,
}

/// The body of a `message.send` after field validation (content not yet sanitised).
#[derive(Debug, Clone, PartialEq)]
pub struct SendBody {
    /// Trimmed raw content, or `Media Files` when media is attached.
    pub content: String,
    pub parent_message_id: Option<Uuid>,
    pub forwarded_from_id: Option<Uuid>,
    pub is_forwarded: bool,
    pub media: Vec<MediaItem>,
}

/// Field errors collected so far; reported together as one `{field: [...]}` object.
#[derive(Debug, Default)]
pub struct FieldErrors(pub Map<String, Value>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, text: impl Into<String>) {
        self.0.insert(
            field.to_string(),
            Value::Array(vec![Value::String(text.into())]),
        );
    }

    pub fn into_result(self) -> Result<(), ChatError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ChatError::Fields(self.0))
        }
    }
}

/// Validates a `message.send` body in the reference's order (messages.md §7.3, §7.8 rows 6–14).
/// Reply/forward ids are only checked for shape here; whether they exist is the caller's job,
/// and its errors join `errors`.
pub fn parse_send_body(
    data: &Map<String, Value>,
    max_content_chars: usize,
    errors: &mut FieldErrors,
) -> Result<SendBody, ChatError> {
    let extra = match data.get("extra_fields") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ChatError::Internal),
    };
    let media = match extra.get("media") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ChatError::rule("Media must be a list of media files")),
    };
    let content = if !media.is_empty() {
        "Media Files".to_string()
    } else {
        match data.get("content") {
            None => {
                errors.add("content", "This field is required.");
                String::new()
            }
            Some(v) => content_field(v, max_content_chars, errors),
        }
    };
    let parent_message_id = pk_field(&extra, "parent_message_id", errors);
    let forwarded_from_id = pk_field(&extra, "forwarded_from_id", errors);
    let mut is_forwarded = match extra.get("is_forwarded") {
        None => false,
        Some(v) => match coerce_bool(v) {
            Some(b) => b,
            None => {
                errors.add("is_forwarded", "Must be a valid boolean.");
                false
            }
        },
    };
    if extra.contains_key("forwarded_from_id") {
        is_forwarded = true;
    }
    let media = media_items(&media)?;
    Ok(SendBody {
        content,
        parent_message_id,
        forwarded_from_id,
        is_forwarded,
        media,
    })
}

/// Content steps 1–3 of messages.md §6 plus the length limit; sanitising comes later.
fn content_field(v: &Value, max_chars: usize, errors: &mut FieldErrors) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => {
            errors.add("content", "This field may not be null.");
            return String::new();
        }
        _ => {
            errors.add("content", "Not a valid string.");
            return String::new();
        }
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        errors.add("content", "This field may not be blank.");
    } else if trimmed.contains('\0') {
        errors.add("content", "Null characters are not allowed.");
    } else if trimmed.chars().count() > max_chars {
        errors.add(
            "content",
            format!("Ensure this field has no more than {max_chars} characters."),
        );
    }
    trimmed.to_string()
}

fn pk_field(extra: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<Uuid> {
    match extra.get(key)? {
        Value::Null => {
            errors.add(key, "This field may not be null.");
            None
        }
        Value::Bool(_) => {
            errors.add(key, "Incorrect type. Expected pk value, received bool.");
            None
        }
        Value::String(s) => match parse_uuid_str(s) {
            Some(id) => Some(id),
            None => {
                errors.add(key, format!("\u{201c}{s}\u{201d} is not a valid UUID."));
                None
            }
        },
        other => {
            errors.add(key, format!("\u{201c}{other}\u{201d} is not a valid UUID."));
            None
        }
    }
}

/// The reference's boolean coercions (DRF `BooleanField`).
pub fn coerce_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
            "false" | "0" | "no" | "n" | "off" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

const MEDIA_TYPES: [&str; 4] = ["image", "video", "audio", "file"];

/// Validates every media item first: errors are keyed by the failing item's index.
fn media_items(items: &[Value]) -> Result<Vec<MediaItem>, ChatError> {
    let mut out = Vec::with_capacity(items.len());
    let mut failures = Map::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(ChatError::Internal);
        };
        let mut errors = FieldErrors::default();
        let media_url = required_string(item, "media_url", &mut errors);
        let media_type = required_string(item, "media_type", &mut errors);
        if errors.0.get("media_type").is_none() && !MEDIA_TYPES.contains(&media_type.as_str()) {
            errors.add(
                "media_type",
                format!("\"{media_type}\" is not a valid choice."),
            );
        }
        let file_size = match item.get("file_size") {
            None => 0,
            Some(Value::Null) => {
                errors.add("file_size", "This field may not be null.");
                0
            }
            Some(v) => match v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(n) if n >= 0 => n,
                Some(_) => {
                    errors.add(
                        "file_size",
                        "Ensure this value is greater than or equal to 0.",
                    );
                    0
                }
                None => {
                    errors.add("file_size", "A valid integer is required.");
                    0
                }
            },
        };
        let mime_type = match item.get("mime_type") {
            None => "image/jpeg".to_string(),
            Some(_) => required_string(item, "mime_type", &mut errors),
        };
        let caption = match item.get("caption") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                errors.add("caption", "Not a valid string.");
                None
            }
        };
        let metadata = match item.get("metadata") {
            None => Value::Object(Map::new()),
            Some(Value::Null) => {
                errors.add("metadata", "This field may not be null.");
                Value::Null
            }
            Some(v) => v.clone(),
        };
        if errors.0.is_empty() {
            out.push(MediaItem {
                media_url,
                media_type,
                file_size,
                mime_type,
                caption,
                metadata,
            });
        } else {
            failures.insert(index.to_string(), Value::Object(errors.0));
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(ChatError::Fields(failures))
    }
}

fn required_string(item: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> String {
    match item.get(key) {
        None => {
            errors.add(key, "This field is required.");
            String::new()
        }
        Some(Value::Null) => {
            errors.add(key, "This field may not be null.");
            String::new()
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.add(key, "This field may not be blank.");
            String::new()
        }
        Some(Value::String(s)) if s.contains('\0') => {
            errors.add(key, "Null characters are not allowed.");
            String::new()
        }
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            errors.add(key, "Not a valid string.");
            String::new()
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
    fn send_body_reports_all_field_errors_together() {
        let data = json!({"content": "  ", "extra_fields": {"parent_message_id": null}});
        let mut errors = FieldErrors::default();
        parse_send_body(data.as_object().unwrap(), 100, &mut errors).unwrap();
        assert_eq!(
            Value::Object(errors.0),
            json!({"content": ["This field may not be blank."],
                   "parent_message_id": ["This field may not be null."]})
        );
    }

    #[test]
    fn media_errors_are_keyed_by_index() {
        let data = json!({"extra_fields": {"media": [
            {"media_url": "https://x/a.jpg", "media_type": "image"},
            {"media_url": "https://x/b.gif", "media_type": "gif"}]}});
        let mut errors = FieldErrors::default();
        let err = parse_send_body(data.as_object().unwrap(), 100, &mut errors).unwrap_err();
        assert_eq!(
            err.frame(),
            json!({"error": {"code": 4003, "detail": {"1": {"media_type": ["\"gif\" is not a valid choice."]}}}})
        );
    }

    #[test]
    fn content_over_the_limit_is_refused() {
        let data = json!({"content": "abcdef"});
        let mut errors = FieldErrors::default();
        parse_send_body(data.as_object().unwrap(), 5, &mut errors).unwrap();
        assert_eq!(
            Value::Object(errors.0),
            json!({"content": ["Ensure this field has no more than 5 characters."]})
        );
    }
}
