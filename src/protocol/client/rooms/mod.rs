//! `room.*` events, decoded up to their gate. What is validated after the gate (member
//! lists, `room.modify`'s action and data) is kept in a form the room's actor checks once it
//! has authorised the caller, so errors come out in the reference's order.

mod create;
mod modify;
mod profile;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::protocol::errors::ChatError;
use crate::protocol::ids::{invalid_uuid, parse_uuid_str};

pub use create::RoomCreate;
pub use modify::{RoomModify, RoomModifyAction, RoomUpdate};
pub use profile::Profile;

/// A user id from a member list (`participants`, `subscribers`, `members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    /// A JSON integer or a decimal string.
    Id(i64),
    /// A non-numeric string: `room.create` answers the reference's "Field 'id' expected a
    /// number" text.
    NotANumber(String),
    /// Any other JSON value: no user has it (dropped at creation, unknown when adding).
    Ignored,
}

/// The entries of a member list; anything but an array is an empty list (`room.create`).
pub fn member_refs(list: Option<&Value>) -> Vec<MemberRef> {
    match list {
        Some(Value::Array(items)) => items.iter().map(member_ref).collect(),
        _ => Vec::new(),
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

/// `members` of `room.add_members` / `room.remove_members`: an array of user ids, checked
/// after the gate. Anything but an array is `["User ids must be a list/array"]` (the
/// reference's 4006 here is a crash; rooms.md §11.2 allows this text). Entries that cannot be
/// user ids are unknown users (4004), as rooms.md §14 item 14 recommends.
pub fn member_list(list: Option<&Value>) -> Result<Vec<Option<i64>>, ChatError> {
    match list {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .map(|v| match member_ref(v) {
                MemberRef::Id(id) => Some(id),
                MemberRef::NotANumber(_) | MemberRef::Ignored => None,
            })
            .collect()),
        _ => Err(ChatError::rule("User ids must be a list/array")),
    }
}

/// `room_id` where the event does not type-check it (`room.join`, `room.modify`): missing,
/// `null` or a boolean is "no such room" (4004); a number (DECISIONS 7), array, object or
/// a string that is not a UUID is the invalid-UUID 4003 with the value as Python shows it.
pub fn unchecked_room_id(data: &Map<String, Value>) -> Result<Uuid, ChatError> {
    match data.get("room_id") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Err(ChatError::NotFound),
        Some(Value::String(s)) => parse_uuid_str(s).ok_or_else(|| invalid_uuid(s)),
        Some(other) => Err(invalid_uuid(&python_repr(other))),
    }
}

/// A JSON value as Python's `str()` prints the decoded value, for error texts that quote
/// client input the way the reference does (`[1]`, `{'a': 1}`, `True`).
pub fn python_repr(v: &Value) -> String {
    fn inner(v: &Value, out: &mut String, quoted: bool) {
        match v {
            Value::Null => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) if quoted => {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            }
            Value::String(s) => out.push_str(s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    inner(item, out, true);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push('\'');
                    out.push_str(k);
                    out.push_str("': ");
                    inner(item, out, true);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    inner(v, &mut out, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn room_id(v: Value) -> Result<Uuid, ChatError> {
        let data = json!({ "room_id": v });
        unchecked_room_id(data.as_object().unwrap())
    }

    #[test]
    fn unchecked_room_ids_follow_the_reference_texts() {
        assert_eq!(unchecked_room_id(&Map::new()), Err(ChatError::NotFound));
        assert_eq!(room_id(json!(null)), Err(ChatError::NotFound));
        assert_eq!(room_id(json!(true)), Err(ChatError::NotFound));
        for (v, shown) in [
            (json!([1]), "[1]"),
            (json!({"a": 1}), "{'a': 1}"),
            (json!(1.5), "1.5"),
            (json!(7), "7"),
            (json!("abc"), "abc"),
        ] {
            assert_eq!(room_id(v), Err(invalid_uuid(shown)));
        }
        let id = Uuid::new_v4();
        assert_eq!(room_id(json!(id.simple().to_string())), Ok(id));
    }

    #[test]
    fn member_lists_must_be_arrays_and_odd_entries_are_unknown_users() {
        assert_eq!(
            member_list(Some(&json!([3, "4", "x", true, null, 2.5]))),
            Ok(vec![Some(3), Some(4), None, None, None, None])
        );
        for bad in [json!("34"), json!(3), json!({"a": 1}), json!(null)] {
            assert_eq!(
                member_list(Some(&bad)),
                Err(ChatError::rule("User ids must be a list/array"))
            );
        }
        assert_eq!(
            member_list(None),
            Err(ChatError::rule("User ids must be a list/array"))
        );
    }

    #[test]
    fn python_repr_quotes_nested_strings_only() {
        assert_eq!(python_repr(&json!("x")), "x");
        assert_eq!(
            python_repr(&json!(["a", 1, null, false])),
            "['a', 1, None, False]"
        );
        assert_eq!(python_repr(&json!({"k": ["v"]})), "{'k': ['v']}");
    }
}
