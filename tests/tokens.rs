//! Token rules (docs/protocol-notes.md, "Tokens"): every forged or malformed token is closed
//! with 4001 and creates no user row. Tokens are signed with the server's secret, so only the
//! claims are wrong.

mod common;

use common::{spawn_app, Client, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `claims`, signed with the server's secret.
fn signed(app: &TestApp, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(app.settings.auth.jwt_secret.as_bytes()),
    )
    .expect("sign")
}

async fn open(app: &TestApp, claims: &Value) -> Client {
    let token = signed(app, claims);
    Client::open(&format!("{}?token={token}", app.ws_url()))
        .await
        .expect("upgrade accepted")
}

async fn users(app: &TestApp) -> Vec<entity::user::Model> {
    chatd::store::users::list(&app.db().await)
        .await
        .expect("list users")
}

async fn assert_refused(claims: Value) {
    let app = spawn_app().await;
    let mut client = open(&app, &claims).await;
    assert_eq!(
        client.recv_close().await,
        (4001, "Authentication failed".to_string()),
        "claims {claims}"
    );
    assert_eq!(users(&app).await, vec![], "claims {claims}");
}

/// One test per forged token: `refused!(name, claims)`.
macro_rules! refused {
    ($($name:ident: $claims:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            assert_refused($claims).await;
        }
    )*};
}

refused! {
    an_exp_that_is_a_garbage_string_is_refused: json!({"user_id": 1, "exp": "garbage"});
    an_exp_that_is_a_string_of_digits_is_refused: json!({"user_id": 1, "exp": (now() + 3600).to_string()});
    an_exp_that_is_a_string_in_the_past_is_refused: json!({"user_id": 1, "exp": "1"});
    a_null_exp_is_refused: json!({"user_id": 1, "exp": null});
    a_boolean_exp_is_refused: json!({"user_id": 1, "exp": true});
    a_fractional_exp_in_the_past_is_refused: json!({"user_id": 1, "exp": now() as f64 - 3600.5});
    a_negative_exp_is_refused: json!({"user_id": 1, "exp": -1});
    an_nbf_that_is_a_string_is_refused: json!({"user_id": 1, "nbf": "garbage"});
    a_null_nbf_is_refused: json!({"user_id": 1, "nbf": null});
    an_nbf_in_the_future_is_refused: json!({"user_id": 1, "nbf": now() + 3600});
    a_user_id_of_zero_is_refused: json!({"user_id": 0});
    a_negative_user_id_is_refused: json!({"user_id": -5});
    a_user_id_string_with_a_leading_zero_is_refused: json!({"user_id": "01"});
    a_negative_user_id_string_is_refused: json!({"user_id": "-5"});
    a_user_id_string_with_a_plus_sign_is_refused: json!({"user_id": "+1"});
    a_user_id_string_with_spaces_is_refused: json!({"user_id": " 1"});
    a_fractional_user_id_is_refused: json!({"user_id": 1.0});
    a_user_id_beyond_64_bits_is_refused: json!({"user_id": u64::MAX});
    a_username_longer_than_150_characters_is_refused: json!({"user_id": 1, "username": "u".repeat(10_000)});
    an_email_longer_than_254_characters_is_refused: json!({"user_id": 1, "email": format!("{}@example.com", "e".repeat(243))});
    a_first_name_longer_than_150_characters_is_refused: json!({"user_id": 1, "first_name": "é".repeat(151)});
    a_last_name_longer_than_150_characters_is_refused: json!({"user_id": 1, "last_name": "l".repeat(151)});
    a_profile_claim_that_is_not_a_string_is_refused: json!({"user_id": 1, "username": 123});
}

#[tokio::test]
async fn a_user_id_given_as_a_string_of_digits_is_accepted() {
    let app = spawn_app().await;
    let mut client = open(&app, &json!({"user_id": "42", "exp": now() + 60})).await;
    assert_eq!(client.recv().await["eventType"], "chat.notifications");
    let ids: Vec<i64> = users(&app).await.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![42]);
}

#[tokio::test]
async fn a_fractional_exp_and_nbf_around_now_are_accepted() {
    // RFC 7519 NumericDate may have a fraction.
    let app = spawn_app().await;
    let now = now() as f64;
    let mut client = open(
        &app,
        &json!({"user_id": 7, "exp": now + 3600.5, "nbf": now - 0.5}),
    )
    .await;
    assert_eq!(client.recv().await["eventType"], "chat.notifications");
}

#[tokio::test]
async fn profile_claims_as_long_as_the_columns_allow_are_stored_whole_and_null_ones_ignored() {
    let app = spawn_app().await;
    let username = "ü".repeat(150);
    let email = format!("{}@example.com", "e".repeat(242));
    let first_name = "f".repeat(150);
    let mut client = open(
        &app,
        &json!({"user_id": 3, "username": username, "email": email,
                "first_name": first_name, "last_name": null}),
    )
    .await;
    assert_eq!(client.recv().await["eventType"], "chat.notifications");
    let stored = users(&app).await;
    assert_eq!(stored.len(), 1);
    let user = &stored[0];
    assert_eq!(email.chars().count(), 254);
    assert_eq!(
        (
            user.username.as_str(),
            user.email.as_str(),
            user.first_name.as_str(),
            user.last_name.as_str()
        ),
        (username.as_str(), email.as_str(), first_name.as_str(), "")
    );
}
