//! `message.*` events: the target decoded before the gate, the body after it.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{checked_room_id, coerce_bool, message_ids, object, truthy, FieldErrors};
use crate::protocol::errors::ChatError;
use crate::protocol::ids::{parse_id, parse_uuid_str};

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

impl SendTarget {
    /// `room_id`, or — when it is falsy — `message_id`'s room (messages.md §7.2 steps 1–2); the
    /// same for `message.send` and `message.typing`.
    pub(super) fn decode(data: &Map<String, Value>) -> Result<SendTarget, ChatError> {
        Ok(match data.get("room_id") {
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
        })
    }
}

impl MessageSend {
    pub(super) fn decode(data: Value) -> Result<MessageSend, ChatError> {
        let data = object(data)?;
        let target = SendTarget::decode(&data)?;
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
    /// `extra_fields.media` as sent; validated by [`parse_media`] once the reply/forward
    /// checks have passed (§7.8 rows 13–14 come after rows 11–12).
    pub media: Vec<Value>,
}

/// Validates a `message.send` body in the reference's order (messages.md §7.3, §7.8 rows
/// 6–11). Reply/forward ids are only checked for shape here; whether they exist is the
/// caller's job, and its errors join `errors`. Media items are checked later, by
/// [`parse_media`].
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

const MEDIA_TYPES: [&str; 4] = ["image", "video", "audio", "file"];

/// Validates every media item (§7.8 rows 13–14): an item that is not an object is 4006;
/// field errors are keyed by the failing item's index, valid items left out.
pub fn parse_media(items: &[Value]) -> Result<Vec<MediaItem>, ChatError> {
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

/// `message.modify` as decoded before its gates; the action and the edit are validated after
/// them (messages.md §8.5).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageModify {
    /// Distinct ids, in request order.
    pub ids: Vec<Uuid>,
    /// `message_id` exactly as sent, as a list (order, duplicates and spelling kept): a delete
    /// echoes it, and an update refuses more than one element (§8.3, §8.4).
    pub echo: Vec<Value>,
    pub action: ModifyAction,
    pub extra_fields: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModifyAction {
    Update,
    Delete,
    /// Anything else, or missing: `Invalid action type`, once the gates have passed.
    Invalid,
}

impl MessageModify {
    pub(super) fn decode(data: Value) -> Result<MessageModify, ChatError> {
        let data = object(data)?;
        let echo = match data.get("message_id") {
            Some(v @ (Value::String(_) | Value::Number(_))) => vec![v.clone()],
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(ChatError::rule(
                    "Atleast one message_id is required for modification",
                ))
            }
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(ChatError::rule(MESSAGE_ID_TYPE)),
        };
        let ids = message_ids(data.get("message_id"))?;
        let action = match data.get("action").and_then(Value::as_str) {
            Some("update") => ModifyAction::Update,
            Some("delete") => ModifyAction::Delete,
            _ => ModifyAction::Invalid,
        };
        Ok(MessageModify {
            ids,
            echo,
            action,
            extra_fields: data.get("extra_fields").cloned(),
        })
    }
}

/// The new content of a `message.modify` update (§8.4 steps 3–5; DECISIONS 20: only
/// `content` is read from `extra_fields`). Returns the trimmed raw content, not yet sanitised.
pub fn parse_edit(
    extra_fields: Option<&Value>,
    max_content_chars: usize,
) -> Result<String, ChatError> {
    let extra = match extra_fields {
        Some(Value::Object(map)) if !map.is_empty() => map,
        _ => {
            return Err(ChatError::rule(
                "'extra_fields' field should be provided for update action",
            ))
        }
    };
    let Some(content) = extra.get("content") else {
        return Err(ChatError::rule(NO_EDIT_CONTENT));
    };
    let mut errors = FieldErrors::default();
    let content = content_field(content, max_content_chars, &mut errors);
    errors.into_result()?;
    Ok(content)
}

/// `Content should be provided for update action`: no `content`, or content that sanitises to
/// nothing.
pub const NO_EDIT_CONTENT: &str = "Content should be provided for update action";

/// `message.react` as decoded before its gate: one message id. What to do with it is
/// validated after the gate ([`parse_reaction`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReact {
    pub message_id: Uuid,
    pub kind: Option<Value>,
    pub reaction_content: Option<Value>,
}

impl MessageReact {
    pub(super) fn decode(data: Value) -> Result<MessageReact, ChatError> {
        let data = object(data)?;
        // An array is refused here (messages.md §9.5 allows it) rather than failing later
        // with a UUID error about the array's text.
        let message_id = match data.get("message_id") {
            Some(v @ (Value::String(_) | Value::Number(_))) => parse_id(v, MESSAGE_ID_TYPE)?,
            _ => return Err(ChatError::rule(MESSAGE_ID_TYPE)),
        };
        Ok(MessageReact {
            message_id,
            kind: data.get("type").cloned(),
            reaction_content: data.get("reaction_content").cloned(),
        })
    }
}

/// What a `message.react` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionChange {
    /// Add (or replace with) this reaction, trimmed.
    Add(String),
    Remove,
}

/// The longest reaction, in characters (messages.md §4.4).
const MAX_REACTION_CHARS: usize = 128;

/// `type`, then (for `add`) `reaction_content` (messages.md §9.3, §9.4).
pub fn parse_reaction(
    kind: Option<&Value>,
    reaction_content: Option<&Value>,
) -> Result<ReactionChange, ChatError> {
    match kind.and_then(Value::as_str) {
        Some("remove") => return Ok(ReactionChange::Remove),
        Some("add") => {}
        _ => return Err(ChatError::rule("invalid reaction type")),
    }
    const FIELD: &str = "reaction_content";
    let raw = match reaction_content {
        None => return Err(ChatError::field(FIELD, "This field is required.")),
        Some(Value::Null) => return Err(ChatError::field(FIELD, "This field may not be null.")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(ChatError::field(FIELD, "Not a valid string.")),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        Err(ChatError::field(FIELD, "This field may not be blank."))
    } else if trimmed.contains('\0') {
        Err(ChatError::field(FIELD, "Null characters are not allowed."))
    } else if trimmed.chars().count() > MAX_REACTION_CHARS {
        Err(ChatError::field(
            FIELD,
            format!("Ensure this field has no more than {MAX_REACTION_CHARS} characters."),
        ))
    } else {
        Ok(ReactionChange::Add(trimmed.to_string()))
    }
}

/// `message.read`: one id (single mode) or an array (bulk mode), messages.md §10.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRead {
    /// Distinct ids, in request order.
    pub ids: Vec<Uuid>,
    /// `message_id` was an array: the answer is one array per room, own messages skipped.
    pub bulk: bool,
}

impl MessageRead {
    pub(super) fn decode(data: Value) -> Result<MessageRead, ChatError> {
        let data = object(data)?;
        Ok(MessageRead {
            ids: message_ids(data.get("message_id"))?,
            bulk: matches!(data.get("message_id"), Some(Value::Array(_))),
        })
    }
}

/// `room.messages` as decoded before its gate; `paginate` is validated after it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomMessages {
    pub room_id: Uuid,
    /// `paginate` when it is a non-empty object; anything else means "every message".
    pub paginate: Option<Map<String, Value>>,
}

impl RoomMessages {
    pub(super) fn decode(data: Value) -> Result<RoomMessages, ChatError> {
        let data = object(data)?;
        let room_id = checked_room_id(&data)?;
        let paginate = match data.get("paginate") {
            Some(Value::Object(map)) if !map.is_empty() => Some(map.clone()),
            _ => None,
        };
        Ok(RoomMessages { room_id, paginate })
    }
}

/// A requested page: `page` as asked (any integer: out of range serves the last page, and is
/// still echoed), `size` at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub size: i64,
}

/// messages.md §13.4 rules 1–2 and 6: both keys truthy as sent, then Python `int()` of each.
/// A size below 1 is `Invalid types` (the reference crashes with 4006 on those).
pub fn parse_page_request(paginate: &Map<String, Value>) -> Result<PageRequest, ChatError> {
    let (page, size) = match (paginate.get("page"), paginate.get("size")) {
        (Some(page), Some(size)) if truthy(page) && truthy(size) => (page, size),
        _ => return Err(ChatError::rule("page and size required")),
    };
    let invalid = || ChatError::rule("Invalid types");
    let page = python_int(page).ok_or_else(invalid)?;
    let size = python_int(size).filter(|s| *s >= 1).ok_or_else(invalid)?;
    Ok(PageRequest { page, size })
}

/// Python's `int(value)` for a JSON value, where it fits in an `i64`: integers as they are,
/// floats truncated toward zero, `true` as 1, strings of decimal digits (optional sign,
/// surrounding whitespace, single underscores between digits).
fn python_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            // `as` saturates, so only finite floats within range are accepted.
            n.as_f64()
                .map(f64::trunc)
                .filter(|f| f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            let (negative, digits) = match s.as_bytes().first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, s),
            };
            let well_formed = !digits.is_empty()
                && !digits.starts_with('_')
                && !digits.ends_with('_')
                && !digits.contains("__")
                && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
            if !well_formed {
                return None;
            }
            let n: i64 = digits.replace('_', "").parse().ok()?;
            Some(if negative { -n } else { n })
        }
        _ => None,
    }
}

const MESSAGE_ID_TYPE: &str = "Invalid message_id type";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let body = parse_send_body(data.as_object().unwrap(), 100, &mut errors).unwrap();
        assert_eq!(body.content, "Media Files");
        let err = parse_media(&body.media).unwrap_err();
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
