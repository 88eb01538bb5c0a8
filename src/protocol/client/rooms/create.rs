//! `room.create`, validated in the reference's order (rooms.md §6.5) up to the point where
//! the database is needed.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::super::fields::{object, truthy, FieldErrors};
use super::profile::{optional, take, Profile, NOT_NULL};
use super::{member_refs, MemberRef};
use crate::protocol::errors::ChatError;
use crate::protocol::ids::parse_uuid_str;
use crate::rooms::room::RoomKind;

/// `room.create` after steps 1–5 of rooms.md §6.5.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomCreate {
    pub kind: RoomKind,
    /// A client-chosen room id.
    pub id: Option<Uuid>,
    /// `participants` (OneToOneChat, GroupChat) or `subscribers` (Channel); not an array
    /// means none.
    pub members: Vec<MemberRef>,
    /// The initial `property.preferences`. Its remaining errors (`null` values) come after the
    /// cap check of step 6, so they are kept until the handler reaches step 7.
    pub preferences: Result<Value, ChatError>,
    /// The GroupChat/Channel fields; `None` for a OneToOneChat.
    pub profile: Option<Profile>,
}

impl RoomCreate {
    pub(in crate::protocol::client) fn decode(data: Value) -> Result<RoomCreate, ChatError> {
        let data = object(data)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .and_then(RoomKind::parse)
            .ok_or_else(|| ChatError::rule("Invalid resource type"))?;
        // Step 3: the top level alone (so `name` must be there).
        validate(kind, &data)?;

        // Step 4: `extra_fields` and the shape of `property`.
        let extra = match data.get("extra_fields") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ChatError::Internal),
        };
        // extra_fields overrides top-level keys of the same name.
        let mut merged = data.clone();
        merged.extend(extra.clone());
        let preferences = preferences(extra.get("property"), merged.get("preferences"))?;

        // Step 5: the merged values.
        let (id, profile) = validate(kind, &merged)?;
        let members = member_refs(merged.get(kind.members_field()));
        Ok(RoomCreate {
            kind,
            id,
            members,
            preferences,
            profile,
        })
    }
}

/// The fields of `kind` (and the room id), every field error reported together.
fn validate(
    kind: RoomKind,
    data: &Map<String, Value>,
) -> Result<(Option<Uuid>, Option<Profile>), ChatError> {
    let mut errors = FieldErrors::default();
    let uuid = |v: &Value| {
        v.as_str()
            .and_then(parse_uuid_str)
            .ok_or_else(|| vec!["Must be a valid UUID.".to_string()])
    };
    let id = take(&mut errors, "id", optional(data.get("id"), uuid)).flatten();
    let profile = match kind {
        RoomKind::OneToOneChat => None,
        _ => Profile::validate(kind, data, &mut errors),
    };
    errors.into_result()?;
    Ok((id, profile))
}

/// `extra_fields.property.preferences`, or its alias, top-level `preferences` (DECISIONS 13;
/// `extra_fields.preferences` overrides it like any other key). Shape errors are step 4;
/// `null` errors are returned inside `Ok` for step 7. Preferences that are not an object are
/// refused (the reference stores falsy ones verbatim; rooms.md §6.6 allows refusing them).
fn preferences(
    property: Option<&Value>,
    alias: Option<&Value>,
) -> Result<Result<Value, ChatError>, ChatError> {
    let not_an_object =
        || ChatError::rule("preferences must be a python dictionary/javascript object");
    let property = match property {
        Some(Value::Null) => {
            return Ok(Err(ChatError::field(
                "non_field_errors",
                "No data provided",
            )));
        }
        Some(Value::Object(p)) => Some(p),
        Some(p) if truthy(p) => {
            return Err(ChatError::rule(
                "Room property must be a python dictionary/javascript object",
            ))
        }
        // Falsy (`[]`, `""`, `0`, `false`): the defaults.
        Some(_) | None => None,
    };
    match property.and_then(|p| p.get("preferences")).or(alias) {
        None => Ok(Ok(Value::Object(Map::new()))),
        Some(Value::Null) => Ok(Err(ChatError::field("preferences", NOT_NULL))),
        Some(v @ Value::Object(_)) => Ok(Ok(v.clone())),
        Some(_) => Err(not_an_object()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Result<RoomCreate, ChatError> {
        RoomCreate::decode(v)
    }

    #[test]
    fn a_group_needs_a_top_level_name_and_extra_fields_override_it() {
        let only_extra = decode(json!({"type": "GroupChat", "extra_fields": {"name": "G"}}));
        assert_eq!(
            only_extra,
            Err(ChatError::field("name", "This field is required."))
        );
        let overridden = decode(
            json!({"type": "GroupChat", "name": "Top", "extra_fields": {"name": " Extra "}}),
        )
        .unwrap();
        assert_eq!(overridden.profile.unwrap().name, "Extra");
        let blank = decode(json!({"type": "Channel", "name": "Top", "extra_fields": {"name": ""}}));
        assert_eq!(
            blank,
            Err(ChatError::field("name", "This field may not be blank."))
        );
    }

    #[test]
    fn all_field_errors_of_one_level_come_together() {
        let err = decode(json!({"type": "GroupChat", "name": "", "avatar": "nope",
            "max_participants": -1, "group_locked": "maybe", "id": 5}))
        .unwrap_err();
        assert_eq!(
            err.frame()["error"]["detail"],
            json!({"id": ["Must be a valid UUID."], "name": ["This field may not be blank."],
                   "avatar": ["Enter a valid URL."], "group_locked": ["Must be a valid boolean."],
                   "max_participants": ["Ensure this value is greater than or equal to 0."]})
        );
    }

    #[test]
    fn fields_of_the_other_type_are_ignored() {
        let group = decode(
            json!({"type": "GroupChat", "name": "G", "is_public": "junk",
            "max_subscribers": "junk", "subscribers": [3]}),
        )
        .unwrap();
        assert_eq!(group.members, vec![]);
        let channel = decode(
            json!({"type": "Channel", "name": "C", "group_locked": "junk",
            "max_participants": "junk", "is_public": "yes", "subscribers": [3, "4"]}),
        )
        .unwrap();
        let profile = channel.profile.unwrap();
        assert!(profile.is_public);
        assert_eq!(profile.cap, None);
        assert_eq!(channel.members, vec![MemberRef::Id(3), MemberRef::Id(4)]);
    }

    #[test]
    fn property_shape_errors_come_first_and_null_errors_wait_for_step_7() {
        let base = json!({"type": "GroupChat", "name": "G"});
        let with = |extra: Value| {
            let mut v = base.clone();
            v["extra_fields"] = extra;
            decode(v)
        };
        assert_eq!(
            with(json!({"property": "x"})),
            Err(ChatError::rule(
                "Room property must be a python dictionary/javascript object"
            ))
        );
        assert_eq!(with(json!(null)), Err(ChatError::Internal));
        let deferred = with(json!({"property": {"preferences": null}})).unwrap();
        assert_eq!(
            deferred.preferences,
            Err(ChatError::field(
                "preferences",
                "This field may not be null."
            ))
        );
        let deferred = with(json!({"property": null})).unwrap();
        assert_eq!(
            deferred.preferences,
            Err(ChatError::field("non_field_errors", "No data provided"))
        );
    }

    #[test]
    fn top_level_preferences_is_an_alias_that_property_overrides() {
        let alias = decode(json!({"type": "OneToOneChat", "preferences": {"a": 1}})).unwrap();
        assert_eq!(alias.preferences, Ok(json!({"a": 1})));
        let both = decode(json!({"type": "OneToOneChat", "preferences": {"a": 1},
            "extra_fields": {"property": {"preferences": {"b": 2}}}}))
        .unwrap();
        assert_eq!(both.preferences, Ok(json!({"b": 2})));
        assert_eq!(
            decode(json!({"type": "OneToOneChat", "preferences": [1]})),
            Err(ChatError::rule(
                "preferences must be a python dictionary/javascript object"
            ))
        );
    }
}
