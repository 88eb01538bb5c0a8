//! `message.*` events: the target decoded before the gate, the body after it.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{coerce_bool, object, truthy, FieldErrors};
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

impl MessageSend {
    pub(super) fn decode(data: Value) -> Result<MessageSend, ChatError> {
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
