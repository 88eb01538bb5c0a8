//! `room.modify`: eight actions behind one event (rooms.md §12A). The gate depends only on
//! whether the action is `delete`; everything else is validated after it, against the room's
//! type, by [`RoomModify::parse`] (§12A.2 rows 6–11).

use serde_json::{Map, Value};
use uuid::Uuid;

use super::super::fields::{object, truthy, FieldErrors};
use super::profile::{self, NOT_NULL};
use super::{python_repr, unchecked_room_id};
use crate::protocol::errors::ChatError;
use crate::rooms::room::{Permission, RoomKind};

/// `room.modify` as decoded before its gate.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomModify {
    pub room_id: Uuid,
    action: Option<Value>,
    data: Option<Value>,
}

/// A validated `room.modify` action.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomModifyAction {
    Delete,
    Update(RoomUpdate),
    /// `add_admin`/`remove_admin` (GroupChat) or `add_moderator`/`remove_moderator`
    /// (Channel). `users` are every id given, in request order (who is affected is the
    /// room's business).
    Roles {
        grant: bool,
        users: Vec<i64>,
    },
    Permissions {
        grant: bool,
        users: Vec<i64>,
        permissions: Vec<Permission>,
    },
    /// A role or permission action on a OneToOneChat: nothing changes, but the reference
    /// still broadcasts the room (rooms.md §12A.5).
    Nothing,
}

/// The `update` action: what to change. `None` means unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar: Option<String>,
    pub group_locked: Option<bool>,
    pub join_approval_required: Option<bool>,
    pub is_public: Option<bool>,
    /// Replaces the stored preferences wholesale.
    pub preferences: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Update,
    Delete,
    Admins(bool),
    Moderators(bool),
    Permissions(bool),
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "update" => Action::Update,
            "delete" => Action::Delete,
            "add_admin" => Action::Admins(true),
            "remove_admin" => Action::Admins(false),
            "add_moderator" => Action::Moderators(true),
            "remove_moderator" => Action::Moderators(false),
            "add_permission" => Action::Permissions(true),
            "remove_permission" => Action::Permissions(false),
            _ => return None,
        })
    }
}

impl RoomModify {
    pub(in crate::protocol::client) fn decode(data: Value) -> Result<RoomModify, ChatError> {
        let mut data = object(data)?;
        let room_id = unchecked_room_id(&data)?;
        Ok(RoomModify {
            room_id,
            action: data.remove("action"),
            data: data.remove("data"),
        })
    }

    /// `delete` is gated on the creator rule, every other value (valid or not) on the admin
    /// rule (rooms.md §12A.2 row 5).
    pub fn is_delete(&self) -> bool {
        self.action.as_ref().and_then(Value::as_str) == Some("delete")
    }

    /// The action, validated for a room of `kind` once the caller passed the gate.
    pub fn parse(&self, kind: RoomKind) -> Result<RoomModifyAction, ChatError> {
        let action = match &self.action {
            Some(v) if truthy(v) => v,
            _ => return Err(ChatError::rule("Action must be provided")),
        };
        let action = action
            .as_str()
            .and_then(Action::parse)
            .ok_or_else(|| ChatError::rule("Invalid action type"))?;
        if action == Action::Delete {
            return Ok(RoomModifyAction::Delete);
        }
        let data = match &self.data {
            Some(v) if truthy(v) => v,
            _ => return Err(ChatError::rule("data must be provided")),
        };
        if kind == RoomKind::OneToOneChat && action != Action::Update {
            return Ok(RoomModifyAction::Nothing);
        }
        let Value::Object(data) = data else {
            return Err(ChatError::Internal);
        };
        match action {
            Action::Update => RoomUpdate::parse(kind, data).map(RoomModifyAction::Update),
            Action::Admins(grant) | Action::Moderators(grant) => {
                let users = user_ids(data.get("users"))?;
                match (action, kind) {
                    (Action::Admins(_), RoomKind::Channel) => Err(ChatError::rule(
                        "Room should be a group chat to modify the admins",
                    )),
                    (Action::Moderators(_), RoomKind::GroupChat) => Err(ChatError::rule(
                        "Room should be a channel to modify the moderators",
                    )),
                    _ => Ok(RoomModifyAction::Roles { grant, users }),
                }
            }
            Action::Permissions(grant) => {
                let users = user_ids(data.get("users"))?;
                // `permissions` is accepted when `permission` is absent (DECISIONS 13).
                let given = data.get("permission").or_else(|| data.get("permissions"));
                let permissions = permissions(kind, given)?;
                Ok(RoomModifyAction::Permissions {
                    grant,
                    users,
                    permissions,
                })
            }
            Action::Delete => Ok(RoomModifyAction::Delete),
        }
    }
}

/// `users` of a role or permission action (§12A.5 rows 1–3). Entries that cannot be user ids
/// but that Python could hash (booleans, floats, `null`) match nobody and are dropped.
fn user_ids(users: Option<&Value>) -> Result<Vec<i64>, ChatError> {
    let items = match users {
        Some(v) if !truthy(v) => return Err(ChatError::rule("User ids must be provided")),
        None => return Err(ChatError::rule("User ids must be provided")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ChatError::rule("User ids must be a list/array")),
    };
    let mut ids = Vec::new();
    for item in items {
        match item {
            Value::Number(n) => ids.extend(n.as_i64()),
            Value::String(s) => ids.push(s.trim().parse().map_err(|_| ChatError::Internal)?),
            Value::Array(_) | Value::Object(_) => return Err(ChatError::Internal),
            Value::Bool(_) | Value::Null => {}
        }
    }
    Ok(ids)
}

/// The codenames of a permission action (§12A.8), de-duplicated; the first invalid one in
/// request order is reported.
fn permissions(kind: RoomKind, given: Option<&Value>) -> Result<Vec<Permission>, ChatError> {
    let items = match given {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(v) if truthy(v) => return Err(ChatError::rule("Permission must be a list")),
        _ => {
            return Err(ChatError::rule(
                "Permission to add or remove should be passed",
            ))
        }
    };
    // The reference puts them in a set first: unhashable entries fail before any check.
    if items.iter().any(|v| v.is_array() || v.is_object()) {
        return Err(ChatError::Internal);
    }
    let mut out = Vec::new();
    for item in items {
        match item.as_str().and_then(Permission::parse) {
            Some(p) if p.kind() == kind => {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            _ => {
                let room = match kind {
                    RoomKind::Channel => "channel",
                    _ => "group chat",
                };
                return Err(ChatError::rule(format!(
                    "Permission '{}' is not a valid {room} permission",
                    python_repr(item)
                )));
            }
        }
    }
    Ok(out)
}

impl RoomUpdate {
    /// rooms.md §12A.3 with DECISIONS 13: falsy `name`/`description`/`avatar` mean
    /// "unchanged", truthy ones are validated as at creation; flags apply only as JSON
    /// booleans; `property.preferences` (or top-level `preferences`) replaces the preferences.
    /// A OneToOneChat only takes preferences.
    fn parse(kind: RoomKind, data: &Map<String, Value>) -> Result<RoomUpdate, ChatError> {
        let mut update = RoomUpdate {
            preferences: preferences(data)?,
            ..RoomUpdate::default()
        };
        if kind == RoomKind::OneToOneChat {
            return Ok(update);
        }
        let mut errors = FieldErrors::default();
        let given = |key: &str| data.get(key).filter(|v| truthy(v));
        let mut check = |key: &str, rule: fn(&Value) -> Result<String, Vec<String>>| {
            given(key).and_then(|v| match rule(v) {
                Ok(s) => Some(s),
                Err(texts) => {
                    errors.add_all(key, texts);
                    None
                }
            })
        };
        update.name = check("name", profile::name);
        update.description = check("description", profile::text);
        update.avatar = check("avatar", profile::avatar);
        errors.into_result()?;
        let flag = |key: &str| data.get(key).and_then(Value::as_bool);
        match kind {
            RoomKind::GroupChat => {
                update.group_locked = flag("group_locked");
                update.join_approval_required = flag("join_approval_required");
            }
            _ => update.is_public = flag("is_public"),
        }
        Ok(update)
    }
}

/// The new preferences, if any: `property` must be an object whose `preferences` (when
/// present) is an object; top-level `preferences` is the alias (DECISIONS 13).
fn preferences(data: &Map<String, Value>) -> Result<Option<Value>, ChatError> {
    let from_property = match data.get("property") {
        None => None,
        Some(Value::Null) => return Err(ChatError::field("non_field_errors", "No data provided")),
        Some(Value::Object(p)) => p.get("preferences"),
        Some(other) => {
            return Err(ChatError::field(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type(other)
                ),
            ))
        }
    };
    match from_property.or_else(|| data.get("preferences")) {
        None => Ok(None),
        Some(Value::Null) => Err(ChatError::field("preferences", NOT_NULL)),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ChatError::rule(
            "preferences must be a python dictionary/javascript object",
        )),
    }
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn modify(action: Value, data: Value) -> RoomModify {
        RoomModify {
            room_id: Uuid::nil(),
            action: Some(action),
            data: Some(data),
        }
    }

    fn rule(text: &str) -> Result<RoomModifyAction, ChatError> {
        Err(ChatError::rule(text))
    }

    #[test]
    fn action_and_data_are_checked_in_the_reference_order() {
        let none = RoomModify {
            room_id: Uuid::nil(),
            action: None,
            data: None,
        };
        assert_eq!(
            none.parse(RoomKind::GroupChat),
            rule("Action must be provided")
        );
        assert_eq!(
            modify(json!(""), json!({})).parse(RoomKind::GroupChat),
            rule("Action must be provided")
        );
        assert_eq!(
            modify(json!("lock"), json!({})).parse(RoomKind::GroupChat),
            rule("Invalid action type")
        );
        assert_eq!(
            modify(json!(5), json!({})).parse(RoomKind::GroupChat),
            rule("Invalid action type")
        );
        assert_eq!(
            modify(json!("delete"), json!(null)).parse(RoomKind::GroupChat),
            Ok(RoomModifyAction::Delete)
        );
        for falsy in [json!(null), json!({}), json!([]), json!(""), json!(0)] {
            assert_eq!(
                modify(json!("update"), falsy).parse(RoomKind::Channel),
                rule("data must be provided")
            );
        }
        assert_eq!(
            modify(json!("update"), json!("x")).parse(RoomKind::Channel),
            Err(ChatError::Internal)
        );
    }

    #[test]
    fn role_actions_check_users_then_room_type() {
        let add_admin = |data: Value, kind| modify(json!("add_admin"), data).parse(kind);
        assert_eq!(
            add_admin(json!({"users": []}), RoomKind::Channel),
            rule("User ids must be provided")
        );
        assert_eq!(
            add_admin(json!({"x": 1}), RoomKind::GroupChat),
            rule("User ids must be provided")
        );
        assert_eq!(
            add_admin(json!({"users": 2}), RoomKind::GroupChat),
            rule("User ids must be a list/array")
        );
        assert_eq!(
            add_admin(json!({"users": ["bob"]}), RoomKind::GroupChat),
            Err(ChatError::Internal)
        );
        assert_eq!(
            add_admin(json!({"users": [2]}), RoomKind::Channel),
            rule("Room should be a group chat to modify the admins")
        );
        assert_eq!(
            modify(json!("remove_moderator"), json!({"users": [2]})).parse(RoomKind::GroupChat),
            rule("Room should be a channel to modify the moderators")
        );
        assert_eq!(
            add_admin(json!({"users": [2, "3", true, null]}), RoomKind::GroupChat),
            Ok(RoomModifyAction::Roles {
                grant: true,
                users: vec![2, 3]
            })
        );
        // A one-to-one chat ignores any non-empty data.
        assert_eq!(
            add_admin(json!("anything"), RoomKind::OneToOneChat),
            Ok(RoomModifyAction::Nothing)
        );
    }

    #[test]
    fn permission_actions_validate_codenames_for_the_room_type() {
        let add = |data: Value, kind| modify(json!("add_permission"), data).parse(kind);
        assert_eq!(
            add(json!({"users": [2]}), RoomKind::GroupChat),
            rule("Permission to add or remove should be passed")
        );
        assert_eq!(
            add(
                json!({"users": [2], "permission": "can_send_messages"}),
                RoomKind::Channel
            ),
            rule("Permission must be a list")
        );
        assert_eq!(
            add(
                json!({"users": [2], "permission": ["can_send_messages"]}),
                RoomKind::GroupChat
            ),
            rule("Permission 'can_send_messages' is not a valid group chat permission")
        );
        assert_eq!(
            add(json!({"users": [2], "permission": [1]}), RoomKind::Channel),
            rule("Permission '1' is not a valid channel permission")
        );
        assert_eq!(
            add(
                json!({"users": [2], "permission": ["x", {"a": 1}]}),
                RoomKind::Channel
            ),
            Err(ChatError::Internal)
        );
        assert_eq!(
            add(
                json!({"users": [2], "permissions": ["can_send_messages", "can_send_messages"]}),
                RoomKind::Channel
            ),
            Ok(RoomModifyAction::Permissions {
                grant: true,
                users: vec![2],
                permissions: vec![Permission::CanSendMessages]
            })
        );
    }

    #[test]
    fn updates_validate_what_they_apply_and_ignore_falsy_values() {
        let update = |data: Value, kind| modify(json!("update"), data).parse(kind);
        assert_eq!(
            update(
                json!({"name": "", "description": null, "avatar": "", "group_locked": "yes",
                       "is_public": true, "max_participants": 1, "unknown": 1}),
                RoomKind::GroupChat
            ),
            Ok(RoomModifyAction::Update(RoomUpdate::default()))
        );
        assert_eq!(
            update(
                json!({"name": "x".repeat(65), "avatar": "nope"}),
                RoomKind::Channel
            )
            .unwrap_err()
            .frame()["error"]["detail"],
            json!({"name": ["Ensure this field has no more than 64 characters."],
                   "avatar": ["Enter a valid URL."]})
        );
        assert_eq!(
            update(json!({"property": "x"}), RoomKind::OneToOneChat),
            Err(ChatError::field(
                "non_field_errors",
                "Invalid data. Expected a dictionary, but got str."
            ))
        );
        assert_eq!(
            update(
                json!({"property": {"preferences": [1]}}),
                RoomKind::GroupChat
            ),
            rule("preferences must be a python dictionary/javascript object")
        );
        assert_eq!(
            update(
                json!({"name": "New", "preferences": {"theme": "dark"}}),
                RoomKind::OneToOneChat
            ),
            Ok(RoomModifyAction::Update(RoomUpdate {
                preferences: Some(json!({"theme": "dark"})),
                ..RoomUpdate::default()
            }))
        );
    }
}
