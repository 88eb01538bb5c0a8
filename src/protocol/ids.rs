//! Parsing of id inputs (`room_id`, `message_id`) with the reference's rules and error texts.

use serde_json::Value;
use uuid::Uuid;

use super::errors::ChatError;

/// Parses a UUID string the way Python's `uuid.UUID(str)` does: hyphens anywhere are ignored,
/// `{…}` braces and a `urn:uuid:` prefix are accepted, case does not matter, and exactly 32 hex
/// digits must remain.
pub fn parse_uuid_str(raw: &str) -> Option<Uuid> {
    let mut s = raw.trim();
    if s.len() >= 9 && s[..9].eq_ignore_ascii_case("urn:uuid:") {
        s = &s[9..];
    }
    let s = s.trim_start_matches('{').trim_end_matches('}');
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok().map(Uuid::from_u128)
}

/// `["“<value>” is not a valid UUID."]`.
pub fn invalid_uuid(shown: &str) -> ChatError {
    ChatError::rule(format!("\u{201c}{shown}\u{201d} is not a valid UUID."))
}

/// An id given as a string, parsed as a UUID. A number is never a valid id (DECISIONS 7:
/// `“<n>” is not a valid UUID.`); `type_error` is the rule text for every other JSON type.
pub fn parse_id(value: &Value, type_error: &'static str) -> Result<Uuid, ChatError> {
    match value {
        Value::String(s) => parse_uuid_str(s).ok_or_else(|| invalid_uuid(s)),
        Value::Number(n) => Err(invalid_uuid(&n.to_string())),
        _ => Err(ChatError::rule(type_error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_uuid_forms_are_accepted() {
        let canonical = "5ab654f2-080b-4216-bc7b-afc78a417ea9";
        let want = Uuid::parse_str(canonical).unwrap();
        for form in [
            canonical,
            "5AB654F2-080B-4216-BC7B-AFC78A417EA9",
            "5ab654f2080b4216bc7bafc78a417ea9",
            "{5ab654f2-080b-4216-bc7b-afc78a417ea9}",
            "urn:uuid:5ab654f2-080b-4216-bc7b-afc78a417ea9",
        ] {
            assert_eq!(parse_uuid_str(form), Some(want), "{form}");
        }
        assert_eq!(parse_uuid_str("abc"), None);
        assert_eq!(parse_uuid_str(""), None);
    }

    #[test]
    fn integers_are_not_valid_uuids() {
        for (n, shown) in [(serde_json::json!(5), "5"), (serde_json::json!(-1), "-1")] {
            let err = parse_id(&n, "x").unwrap_err();
            assert_eq!(
                err.frame(),
                serde_json::json!({"error": {"code": 4003,
                    "detail": [format!("\u{201c}{shown}\u{201d} is not a valid UUID.")]}})
            );
        }
    }
}
