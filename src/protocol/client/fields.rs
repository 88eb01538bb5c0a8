//! Field-level decoding shared by every event: `data` as an object, Python truthiness, ids,
//! booleans, and the collected `{field: [...]}` errors.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::protocol::errors::ChatError;
use crate::protocol::ids::parse_id;

/// Handlers read fields from `data`; anything but an object is the reference's 4006.
pub fn object(data: Value) -> Result<Map<String, Value>, ChatError> {
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
pub fn message_ids(value: Option<&Value>) -> Result<Vec<Uuid>, ChatError> {
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

/// `room_id` where the event type-checks it (`room.info`, `room.leave`, `room.add_members`,
/// `room.remove_members`, `room.messages`): a string or number, else `Invalid room_id type`.
pub fn checked_room_id(data: &Map<String, Value>) -> Result<Uuid, ChatError> {
    match data.get("room_id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => parse_id(v, "Invalid room_id type"),
        _ => Err(ChatError::rule("Invalid room_id type")),
    }
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

    /// Several texts for one field (e.g. an avatar both too long and not a URL).
    pub fn add_all(&mut self, field: &str, texts: Vec<String>) {
        self.0.insert(
            field.to_string(),
            Value::Array(texts.into_iter().map(Value::String).collect()),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ChatError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ChatError::Fields(self.0))
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
