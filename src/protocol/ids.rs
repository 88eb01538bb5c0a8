//! Parsing of id inputs (`room_id`, `message_id`) with the reference's rules and error texts.

use serde_json::Value;
use uuid::Uuid;

use super::errors::ChatError;

/// Parses a UUID string the way Python's `uuid.UUID(str)` does: hyphens anywhere are ignored,
/// `{…}` braces and a `urn:uuid:` prefix are accepted, case does not matter, and exactly 32 hex
/// digits must remain.
pub fn parse_uuid_str(raw: &str) -> Option<Uuid> {
    let mut s = raw.trim();
    // `get`: a character that straddles byte 9 is no prefix (slicing there would panic).
    if s.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:uuid:"))
    {
        s = &s[9..];
    }
    let s = s.trim_start_matches('{').trim_end_matches('}');
    // Digit by digit, without collecting them: every `room_id` of every `message.send`.
    let mut value: u128 = 0;
    let mut digits = 0;
    for c in s.chars().filter(|c| *c != '-') {
        let digit = c.to_digit(16)?;
        if digits == 32 {
            return None;
        }
        value = value << 4 | u128::from(digit);
        digits += 1;
    }
    (digits == 32).then(|| Uuid::from_u128(value))
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

    /// The collecting implementation this one replaced, as the oracle.
    fn collected(raw: &str) -> Option<Uuid> {
        let mut s = raw.trim();
        // As fixed here: it sliced at byte 9 whatever character lay there, and panicked.
        if s.get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:uuid:"))
        {
            s = &s[9..];
        }
        let s = s.trim_start_matches('{').trim_end_matches('}');
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(&hex, 16).ok().map(Uuid::from_u128)
    }

    #[test]
    fn parsed_digit_by_digit_as_the_collecting_parser_did() {
        const PIECES: &[&str] = &[
            "5ab654f2",
            "080B",
            "-",
            "--",
            "{",
            "}",
            "urn:uuid:",
            " ",
            "a",
            "F",
            "0",
            "g",
            "é",
            "+",
            "x",
            "bc7bafc78a417ea9",
            "4216",
            "\u{0}",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut raw = String::new();
            let mut bits = state;
            for _ in 0..(bits % 9) {
                bits /= 9;
                raw.push_str(PIECES[(bits % PIECES.len() as u64) as usize]);
                bits = bits.rotate_left(7);
            }
            assert_eq!(parse_uuid_str(&raw), collected(&raw), "{raw:?}");
            let canonical = Uuid::from_u128(u128::from(state) << 64 | u128::from(bits));
            for form in [canonical.to_string(), canonical.simple().to_string()] {
                assert_eq!(parse_uuid_str(&form), Some(canonical));
                assert_eq!(collected(&form), Some(canonical));
            }
        }
    }
}
