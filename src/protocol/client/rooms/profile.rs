//! The fields of a GroupChat or Channel (`name`, `description`, `avatar`, the cap, the flags)
//! validated with the reference's serializer rules and texts (rooms.md §6.6). `room.create`
//! and `room.modify` `update` share them (DECISIONS 13).

use serde_json::{Map, Value};

use super::super::fields::{coerce_bool, FieldErrors};
use crate::rooms::room::RoomKind;

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field may not be null.";
const NOT_BLANK: &str = "This field may not be blank.";
const NOT_A_STRING: &str = "Not a valid string.";
const NO_NULL_CHARACTERS: &str = "Null characters are not allowed.";
const BAD_URL: &str = "Enter a valid URL.";
const BAD_BOOLEAN: &str = "Must be a valid boolean.";
const BAD_INTEGER: &str = "A valid biginteger is required.";
const NEGATIVE: &str = "Ensure this value is greater than or equal to 0.";
const NAME_MAX: usize = 64;
const AVATAR_MAX: usize = 200;

/// A GroupChat's or Channel's own fields, as validated (`room.create`).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub avatar: Option<String>,
    /// `max_participants` / `max_subscribers`; `None` means the configured default.
    pub cap: Option<i64>,
    pub group_locked: bool,
    pub join_approval_required: bool,
    pub is_public: bool,
}

impl Profile {
    /// Validates the fields `kind` has (others are ignored), collecting every field error.
    /// `name` must be present.
    pub(super) fn validate(
        kind: RoomKind,
        data: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> Option<Profile> {
        let name = match data.get("name") {
            None => Err(vec![REQUIRED.to_string()]),
            Some(v) => name(v),
        };
        let name = take(errors, "name", name);
        let description = take(
            errors,
            "description",
            nullable(data.get("description"), text),
        );
        let avatar = take(errors, "avatar", nullable(data.get("avatar"), avatar));
        let mut flag = |key: &str| {
            take(errors, key, optional(data.get(key), boolean)).map(|b| b.unwrap_or(false))
        };
        let (group_locked, join_approval_required, is_public) = match kind {
            RoomKind::GroupChat => (
                flag("group_locked"),
                flag("join_approval_required"),
                Some(false),
            ),
            _ => (Some(false), Some(false), flag("is_public")),
        };
        let cap_key = kind.cap_field();
        let cap = take(errors, cap_key, optional(data.get(cap_key), cap));
        Some(Profile {
            name: name?,
            description: description?,
            avatar: avatar?,
            cap: cap?,
            group_locked: group_locked?,
            join_approval_required: join_approval_required?,
            is_public: is_public?,
        })
    }
}

/// The value, or its errors recorded under `field`.
pub fn take<T>(errors: &mut FieldErrors, field: &str, checked: Checked<T>) -> Option<T> {
    match checked {
        Ok(v) => Some(v),
        Err(texts) => {
            errors.add_all(field, texts);
            None
        }
    }
}

pub type Checked<T> = Result<T, Vec<String>>;

/// A field that may be absent, but not `null`.
pub fn optional<T>(v: Option<&Value>, check: impl Fn(&Value) -> Checked<T>) -> Checked<Option<T>> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Err(vec![NOT_NULL.into()]),
        Some(v) => check(v).map(Some),
    }
}

/// A field that may be absent or `null` (both mean "none").
fn nullable<T>(v: Option<&Value>, check: impl Fn(&Value) -> Checked<T>) -> Checked<Option<T>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => check(v).map(Some),
    }
}

/// DRF `CharField`: strings and numbers (as text), trimmed, without NUL characters.
pub fn text(v: &Value) -> Checked<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(vec![NOT_A_STRING.into()]),
    };
    if s.contains('\0') {
        return Err(vec![NO_NULL_CHARACTERS.into()]);
    }
    Ok(s)
}

/// `name`: required text, not blank, at most 64 characters.
pub fn name(v: &Value) -> Checked<String> {
    if v.is_null() {
        return Err(vec![NOT_NULL.into()]);
    }
    let s = text(v)?;
    if s.is_empty() {
        return Err(vec![NOT_BLANK.into()]);
    }
    if s.chars().count() > NAME_MAX {
        return Err(vec![format!(
            "Ensure this field has no more than {NAME_MAX} characters."
        )]);
    }
    Ok(s)
}

/// `avatar`: a URL of at most 200 characters, or blank. Both rules are reported when both
/// fail, as the serializer's validators do.
pub fn avatar(v: &Value) -> Checked<String> {
    let s = text(v)?;
    if s.is_empty() {
        return Ok(s);
    }
    let mut problems = Vec::new();
    if s.chars().count() > AVATAR_MAX {
        problems.push(format!(
            "Ensure this field has no more than {AVATAR_MAX} characters."
        ));
    }
    if !is_url(&s) {
        problems.push(BAD_URL.into());
    }
    if problems.is_empty() {
        Ok(s)
    } else {
        Err(problems)
    }
}

pub fn boolean(v: &Value) -> Checked<bool> {
    coerce_bool(v).ok_or_else(|| vec![BAD_BOOLEAN.into()])
}

/// A member cap: an integer (JSON number, or its text; `5.0` counts) from 0 to 2^63 − 1.
pub fn cap(v: &Value) -> Checked<i64> {
    let digits = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(vec![BAD_INTEGER.into()]),
    };
    // DRF drops a decimal part of zeros before parsing.
    let digits = match digits.split_once('.') {
        Some((whole, zeros)) if zeros.chars().all(|c| c == '0') => whole.to_string(),
        _ => digits,
    };
    let n: i128 = digits.parse().map_err(|_| vec![BAD_INTEGER.to_string()])?;
    if n < 0 {
        return Err(vec![NEGATIVE.into()]);
    }
    i64::try_from(n).map_err(|_| {
        vec![format!(
            "Ensure this value is less than or equal to {}.",
            i64::MAX
        )]
    })
}

/// Django's `URLValidator`: http(s)/ftp(s), optional user info, a host name with a TLD,
/// `localhost`, an IPv4 or a bracketed IPv6 address, optional port, then any path, query or
/// fragment without whitespace.
pub fn is_url(s: &str) -> bool {
    if s.len() > 2048 || s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !["http", "https", "ftp", "ftps"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return false;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match authority.rsplit_once('@') {
        Some((user, host_port)) => {
            let (name, _password) = user.split_once(':').unwrap_or((user, ""));
            if name.is_empty() || user.contains('/') {
                return false;
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => ("", None),
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    host_port.starts_with('[') || is_host(host)
}

fn is_host(host: &str) -> bool {
    let host = host.to_lowercase();
    if host == "localhost" || is_ipv4(&host) {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(&host);
    let labels: Vec<&str> = host.split('.').collect();
    let Some((tld, names)) = labels.split_last() else {
        return false;
    };
    if names.is_empty() {
        return false;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| word(c) || c == '-')
    };
    let tld_ok = if let Some(puny) = tld.strip_prefix("xn--") {
        (1..=59).contains(&puny.len()) && puny.chars().all(|c| c.is_ascii_alphanumeric())
    } else {
        (2..=63).contains(&tld.chars().count())
            && !tld.starts_with('-')
            && !tld.ends_with('-')
            && tld.chars().all(|c| c.is_alphabetic() || c == '-')
    };
    tld_ok && names.iter().all(|l| label_ok(l))
}

/// Dotted quad without leading zeros, as Django's pattern.
fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_follow_djangos_validator() {
        for good in [
            "https://cdn.example.com/avatar.jpg",
            "http://localhost:8000/a.png",
            "http://127.0.0.1/x",
            "https://user:pw@example.co.uk/p?q=1#f",
            "http://[::1]:80/",
            "ftp://files.example.org",
            "https://xn--bcher-kva.example/",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert!(is_url(good), "{good}");
        }
        for bad in [
            "not a url",
            "example.com/a.png",
            "javascript:alert(1)",
            "mailto:a@example.com",
            "https://",
            "https://example",
            "https://exa mple.com",
            "http://256.1.1.1/",
            "http://-bad.example.com",
            "http://example.com:abc/",
            "http://[::zz]/",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_text_of_at_most_64_characters() {
        assert_eq!(name(&json!("  Team ")), Ok("Team".to_string()));
        assert_eq!(name(&json!(42)), Ok("42".to_string()));
        assert_eq!(name(&json!("   ")), Err(vec![NOT_BLANK.to_string()]));
        assert_eq!(name(&json!(null)), Err(vec![NOT_NULL.to_string()]));
        assert_eq!(name(&json!(["x"])), Err(vec![NOT_A_STRING.to_string()]));
        assert_eq!(name(&json!(true)), Err(vec![NOT_A_STRING.to_string()]));
        assert!(name(&json!("é".repeat(64))).is_ok());
        assert_eq!(
            name(&json!("x".repeat(65))),
            Err(vec![
                "Ensure this field has no more than 64 characters.".to_string()
            ])
        );
    }

    #[test]
    fn caps_are_non_negative_big_integers() {
        assert_eq!(cap(&json!(10)), Ok(10));
        assert_eq!(cap(&json!("10")), Ok(10));
        assert_eq!(cap(&json!(10.0)), Ok(10));
        assert_eq!(cap(&json!(0)), Ok(0));
        assert_eq!(cap(&json!(-1)), Err(vec![NEGATIVE.to_string()]));
        for bad in [json!(1.5), json!("ten"), json!(true), json!([1])] {
            assert_eq!(cap(&bad), Err(vec![BAD_INTEGER.to_string()]), "{bad}");
        }
        assert_eq!(cap(&json!(i64::MAX)), Ok(i64::MAX));
        assert!(cap(&json!("9223372036854775808")).is_err());
    }

    #[test]
    fn an_overlong_bad_avatar_reports_both_problems() {
        assert_eq!(avatar(&json!("")), Ok(String::new()));
        let long = format!("https://example.com/{}", "a".repeat(200));
        assert!(avatar(&json!(long)).is_err());
        assert_eq!(
            avatar(&json!("x".repeat(201))),
            Err(vec![
                "Ensure this field has no more than 200 characters.".to_string(),
                BAD_URL.to_string()
            ])
        );
    }
}
