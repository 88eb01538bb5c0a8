//! The browser console at `/` (`console.enabled`): a page that speaks the WebSocket protocol
//! like any frontend would, so a newcomer sees chatd work without writing a client. Plain
//! HTML, JavaScript and CSS compiled into the binary: no build step, nothing fetched from
//! elsewhere.
//!
//! With the development secret in use it can also mint tokens (`POST /console/token`), so that
//! two tabs can be two users within a minute. That route does not exist otherwise: with a real
//! secret, tokens come from the application that owns the users.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::{self, NewToken};
use crate::config::Settings;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Everything the page loads comes from here; the only connections it opens are the
/// WebSocket endpoint and the token route.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The page with this server's settings filled in.
struct Page(String);

pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    if !settings.console.enabled {
        return;
    }
    // A third of the idle threshold leaves two heartbeats' slack before the server's 4008.
    let heartbeat = settings.inactivity_threshold().as_secs_f64() / 3.0;
    let page = INDEX
        .replace(
            "{{websocket_path}}",
            &escape_html(&settings.server.websocket_path),
        )
        .replace(
            "{{user_id_claim}}",
            &escape_html(&settings.auth.user_id_claim),
        )
        .replace("{{heartbeat_seconds}}", &format!("{heartbeat:.3}"))
        .replace(
            "{{dev_tokens}}",
            if settings.console_mints_tokens() {
                "on"
            } else {
                "off"
            },
        );
    cfg.app_data(web::Data::new(Page(page)))
        .route("/", web::get().to(index))
        .route(
            "/console/app.js",
            web::get().to(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/console/style.css",
            web::get().to(|| asset("text/css; charset=utf-8", STYLE)),
        );
    if settings.console_mints_tokens() {
        cfg.route("/console/token", web::post().to(mint_token));
    }
}

async fn index(page: web::Data<Page>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(page.0.clone())
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[derive(Deserialize)]
struct TokenRequest {
    user_id: i64,
    #[serde(default)]
    username: Option<String>,
}

/// `{"user_id": 1, "username": "alice"}` → `{"token": "…"}`, signed with the development
/// secret and valid for `console.dev_token_ttl` seconds.
async fn mint_token(
    app: web::Data<AppState>,
    request: Result<web::Json<TokenRequest>, actix_web::Error>,
) -> HttpResponse {
    let Ok(web::Json(request)) = request else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "expected {\"user_id\": <integer>, \"username\": <string>}"}));
    };
    let ttl = i64::try_from(app.settings.console.dev_token_ttl).unwrap_or(i64::MAX);
    let claims = NewToken {
        user_id: request.user_id,
        username: request
            .username
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty()),
        exp: Some(chrono::Utc::now().timestamp().saturating_add(ttl)),
        ..Default::default()
    };
    match auth::issue(&app.settings.auth, &claims) {
        Ok(token) => HttpResponse::Ok().json(json!({"token": token})),
        Err(e) => {
            log::error!("cannot sign a console token: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
