//! `room.*` events, decoded up to their gate.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{object, truthy};
use crate::protocol::errors::ChatError;
use crate::protocol::ids::parse_uuid_str;
use crate::rooms::room::RoomKind;

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
    pub(super) fn decode(data: Value) -> Result<RoomCreate, ChatError> {
        let data = object(data)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .and_then(RoomKind::parse)
            .ok_or_else(|| ChatError::rule("Invalid resource type"))?;
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
