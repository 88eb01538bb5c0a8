//! `room.*` events, decoded up to their gate.

mod create;
mod profile;

use serde_json::Value;

pub use create::RoomCreate;
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
