//! Token → identity. The only code that knows the token format: an HS256 JWT whose `user_id`
//! claim (name configurable) selects the user. Claims are checked strictly (the rules, and why,
//! are in docs/protocol-notes.md, "Tokens"):
//! - `exp`/`nbf`, when present, must be JSON numbers (a fraction is allowed: RFC 7519
//!   NumericDate) and are checked against the clock with `auth.leeway`. Any other type is
//!   refused, so a token cannot escape expiry through the type of its claim.
//! - the user id is a positive integer: a JSON integer, or a string of decimal digits without
//!   sign or leading zero (`"1"` as Django's lookup takes it; not `"01"`, `"-5"`, `"+1"`).
//! - profile claims are strings (`null` counts as absent) no longer than the issuer's own
//!   columns; a longer one refuses the token.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::config::AuthSettings;

/// Who a valid token says the caller is, with the optional profile claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The profile claims and their longest accepted values, in characters: the widths of the
/// issuer's user table (Django's `auth_user`), so chatd never holds a profile its issuer could
/// not have stored.
pub const PROFILE_CLAIMS: [(&str, usize); 4] = [
    ("username", 150),
    ("email", 254),
    ("first_name", 150),
    ("last_name", 150),
];

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token has no positive integer `{0}` claim")]
    NoUserId(String),
    #[error("token claim `{0}` is not a number")]
    TimeNotANumber(&'static str),
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token claim `{claim}` is not a string of at most {max} characters")]
    BadProfileClaim { claim: &'static str, max: usize },
}

pub fn authenticate(settings: &AuthSettings, token: Option<&str>) -> Result<Identity, AuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    // jsonwebtoken skips an `exp`/`nbf` it cannot parse as an unsigned number; `check_times`
    // refuses those instead.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(settings.jwt_secret.as_bytes()),
        &validation,
    )?
    .claims;
    check_times(&claims, settings.leeway as f64, now())?;
    identity(&claims, &settings.user_id_claim)
}

/// Seconds since the epoch, with a fraction.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// PyJWT's comparisons (SimpleJWT's issuer): expired once `exp <= now - leeway`; not yet valid
/// while `nbf > now + leeway`.
fn check_times(claims: &Map<String, Value>, leeway: f64, now: f64) -> Result<(), AuthError> {
    let number = |claim: &'static str| match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(AuthError::TimeNotANumber(claim)),
        Some(_) => Err(AuthError::TimeNotANumber(claim)),
    };
    if number("exp")?.is_some_and(|exp| exp <= now - leeway) {
        return Err(AuthError::Expired);
    }
    if number("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

fn identity(claims: &Map<String, Value>, user_id_claim: &str) -> Result<Identity, AuthError> {
    let user_id = match claims.get(user_id_claim) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => canonical_positive(s),
        _ => None,
    }
    .filter(|id| *id > 0)
    .ok_or_else(|| AuthError::NoUserId(user_id_claim.to_string()))?;
    let [username, email, first_name, last_name] =
        PROFILE_CLAIMS.map(|(claim, max)| match claims.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(_) => Err(AuthError::BadProfileClaim { claim, max }),
        });
    Ok(Identity {
        user_id,
        username: username?.filter(|u| !u.is_empty()),
        email: email?,
        first_name: first_name?,
        last_name: last_name?,
    })
}

/// `"42"` → 42; `None` for anything but decimal digits without a leading zero.
fn canonical_positive(s: &str) -> Option<i64> {
    let canonical = !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Claims for [`issue`]; `exp` is seconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub user_id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub exp: Option<i64>,
}

/// Signs a token the way the host application would (used by `chatd token` and the tests).
/// Refuses identity claims that [`authenticate`] would refuse.
pub fn issue(settings: &AuthSettings, token: &NewToken) -> Result<String, AuthError> {
    let mut claims = Map::new();
    claims.insert(settings.user_id_claim.clone(), Value::from(token.user_id));
    claims.insert("token_type".into(), Value::from("access"));
    for (key, value) in [
        ("username", &token.username),
        ("email", &token.email),
        ("first_name", &token.first_name),
        ("last_name", &token.last_name),
    ] {
        if let Some(v) = value {
            claims.insert(key.into(), Value::from(v.clone()));
        }
    }
    if let Some(exp) = token.exp {
        claims.insert("exp".into(), Value::from(exp));
    }
    identity(&claims, &settings.user_id_claim)?;
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(settings.jwt_secret.as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn times_are_compared_as_pyjwt_does_with_the_leeway() {
        let now = 1_000.0;
        let check = |v: Value, leeway: f64| check_times(&claims(v), leeway, now);
        assert!(matches!(
            check(json!({"exp": 1000}), 0.0),
            Err(AuthError::Expired)
        ));
        assert!(check(json!({"exp": 1000.5}), 0.0).is_ok());
        assert!(check(json!({"exp": 995}), 10.0).is_ok());
        assert!(check(json!({"nbf": 1000}), 0.0).is_ok());
        assert!(matches!(
            check(json!({"nbf": 1000.5}), 0.0),
            Err(AuthError::NotYetValid)
        ));
        assert!(check(json!({"nbf": 1005}), 10.0).is_ok());
        for bad in [json!("1"), json!(null), json!([1]), json!({}), json!(false)] {
            assert!(matches!(
                check(json!({"exp": bad.clone()}), 0.0),
                Err(AuthError::TimeNotANumber("exp"))
            ));
            assert!(matches!(
                check(json!({"nbf": bad}), 0.0),
                Err(AuthError::TimeNotANumber("nbf"))
            ));
        }
    }

    #[test]
    fn only_canonical_positive_ids_are_users() {
        for (given, want) in [
            (json!(1), Some(1)),
            (json!("42"), Some(42)),
            (json!(i64::MAX), Some(i64::MAX)),
            (json!(0), None),
            (json!(-5), None),
            (json!("0"), None),
            (json!("01"), None),
            (json!("-5"), None),
            (json!("+1"), None),
            (json!("1 "), None),
            (json!(""), None),
            (json!("9223372036854775808"), None),
            (json!(1.0), None),
            (json!(true), None),
        ] {
            let got = identity(&claims(json!({"user_id": given.clone()})), "user_id").ok();
            assert_eq!(got.map(|i| i.user_id), want, "user_id {given}");
        }
    }

    #[test]
    fn the_token_command_cannot_sign_what_authenticate_refuses() {
        let settings = AuthSettings {
            jwt_secret: "s".into(),
            user_id_claim: "user_id".into(),
            leeway: 0,
        };
        let refused = |token: NewToken| issue(&settings, &token).is_err();
        assert!(refused(NewToken::default()));
        assert!(refused(NewToken {
            user_id: 1,
            username: Some("u".repeat(151)),
            ..Default::default()
        }));
        let token = issue(
            &settings,
            &NewToken {
                user_id: 1,
                username: Some("u".repeat(150)),
                ..Default::default()
            },
        )
        .expect("signed");
        assert_eq!(authenticate(&settings, Some(&token)).unwrap().user_id, 1);
    }
}
