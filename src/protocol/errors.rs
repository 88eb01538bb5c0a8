//! Every failure a client can see, and the one place it becomes an error frame.

use serde_json::{json, Map, Value};

/// A failure reported to the connection that sent the event. The connection stays open.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    /// `{"error": "invalid event type"}` (no code, as the reference).
    #[error("invalid event type")]
    InvalidEventType,
    /// A frame that is not a JSON object: 4003 `["Invalid frame: <reason>"]`.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// 4002: an authorisation gate failed; the text is the spec's.
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// 4003 from a business rule: a one-element array.
    #[error("rule: {0}")]
    Rule(String),
    /// 4003 from field validation: `{field: [messages]}`.
    #[error("validation: {0:?}")]
    Fields(Map<String, Value>),
    /// 4004.
    #[error("resource not found")]
    NotFound,
    /// 4005: a database constraint fired.
    #[error("database constraint violated")]
    Integrity,
    /// 4006: malformed `data`, or a failure of ours (logged where it happens).
    #[error("internal server error")]
    Internal,
}

impl ChatError {
    /// A failure of ours: logged with its cause, reported to the client as 4006.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        log::error!("{context}: {err}");
        ChatError::Internal
    }

    pub fn rule(text: impl Into<String>) -> Self {
        ChatError::Rule(text.into())
    }

    /// `{field: [text]}`.
    pub fn field(field: &str, text: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert(field.to_string(), json!([text.into()]));
        ChatError::Fields(map)
    }

    /// The wire code; `None` for `invalid event type`, which has none.
    pub fn code(&self) -> Option<u16> {
        Some(match self {
            ChatError::InvalidEventType => return None,
            ChatError::PermissionDenied(_) => 4002,
            ChatError::InvalidFrame(_) | ChatError::Rule(_) | ChatError::Fields(_) => 4003,
            ChatError::NotFound => 4004,
            ChatError::Integrity => 4005,
            ChatError::Internal => 4006,
        })
    }

    pub fn frame(&self) -> Value {
        let (code, detail) = match self {
            ChatError::InvalidEventType => return json!({"error": "invalid event type"}),
            ChatError::InvalidFrame(reason) => (4003, json!([format!("Invalid frame: {reason}")])),
            ChatError::PermissionDenied(text) => (4002, json!(text)),
            ChatError::Rule(text) => (4003, json!([text])),
            ChatError::Fields(map) => (4003, Value::Object(map.clone())),
            ChatError::NotFound => (4004, json!("Resource not found.")),
            ChatError::Integrity => (4005, json!("Database constraint violated.")),
            ChatError::Internal => (4006, json!("Internal server error.")),
        };
        json!({"error": {"code": code, "detail": detail}})
    }

    pub fn to_frame_text(&self) -> String {
        self.frame().to_string()
    }
}

/// The 4002 texts, exactly as the reference spells them (typos included).
pub mod denied {
    pub const ACCESS_ROOM: &str = "User is not authorized access this room";
    pub const SEND_MESSAGE: &str = "User is not authorized to send message to this room";
    pub const ACCESS_MESSAGE: &str = "User is not authorized to access this message";
    pub const MODIFY_MESSAGE: &str = "User is not authorized to modify this message";
    pub const ADD_MEMBERS: &str = "User is not authorized to add new members to this room";
    pub const REMOVE_MEMBERS: &str = "User is not authorized to remove members from this room";
    pub const NOT_CREATOR: &str = "User is not the creator of this room";
    pub const NOT_ADMIN: &str = "User is not an admin of this room";
}
