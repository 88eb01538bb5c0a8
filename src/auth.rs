//! Token → identity. The only code that knows the token format: an HS256 JWT whose
//! `user_id` claim (name configurable) selects the user; `exp`/`nbf` are checked when present.

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

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token has no integer `{0}` claim")]
    NoUserId(String),
}

pub fn authenticate(settings: &AuthSettings, token: Option<&str>) -> Result<Identity, AuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = settings.leeway;
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(settings.jwt_secret.as_bytes()),
        &validation,
    )?;
    let claims = data.claims;
    let user_id = match claims.get(&settings.user_id_claim) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| AuthError::NoUserId(settings.user_id_claim.clone()))?;
    let text = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(Identity {
        user_id,
        username: text("username").filter(|u| !u.is_empty()),
        email: text("email"),
        first_name: text("first_name"),
        last_name: text("last_name"),
    })
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
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(settings.jwt_secret.as_bytes()),
    )?)
}
