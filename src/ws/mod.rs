//! `GET /messaging/`: authenticate, then hand the socket to a session actor (run by
//! [`upgrade`], outside actix-http's dispatcher). The only code that touches actix-web-actors
//! (deprecated upstream, so it stays boxed in here).

mod frame_guard;
mod session;
mod upgrade;

use std::sync::Arc;

use actix::{Actor, ActorContext, StreamHandler};
use actix_web::{http::header, web, HttpMessage, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use uuid::Uuid;

use crate::app::AppState;
use crate::{auth, store};

pub use session::WsSession;
pub use upgrade::{AppFactory, SocketBuffers, UpgradeFactory};

/// Close code and reason for a connection without a valid token (DECISIONS 1).
pub const AUTH_FAILED: (u16, &str) = (4001, "Authentication failed");

pub async fn endpoint(
    req: HttpRequest,
    app: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // Only a request that actix-http handed to the upgrade service can become a WebSocket:
    // that service takes the socket over once this answer is written.
    if !is_websocket_upgrade(&req) || req.extensions().get::<Upgrading>().is_none() {
        return Ok(HttpResponse::BadRequest().body("this endpoint only speaks WebSocket\n"));
    }
    let max_frame = app.settings.limits.max_frame_bytes;
    // Every line logged about this connection, from here on, carries this id.
    let conn = Uuid::new_v4();
    let token = first_query_value(&req, "token");
    let identity = match auth::authenticate(&app.settings.auth, token.as_deref()) {
        Ok(identity) => identity,
        Err(e) => {
            app.metrics.auth_failed(&e);
            log::info!(conn:% = conn; "refusing connection: {e}");
            return accept(&req, Handover::Rejected { max_frame });
        }
    };
    let user = match store::users::upsert_from_identity(&app.reader, &app.db, &identity).await {
        Ok((user, created)) => {
            if created {
                // Before the session can receive anything: see `RoomRegistry::user_created`.
                app.rooms.user_created(user.id).await;
            }
            user
        }
        Err(e) => {
            log::error!(conn:% = conn; "cannot record user {}: {e}", identity.user_id);
            return Ok(HttpResponse::ServiceUnavailable().finish());
        }
    };
    accept(
        &req,
        Handover::Session(SessionParts {
            app: app.into_inner(),
            user,
            conn,
        }),
    )
}

/// The handshake's answer (101, or actix's refusal of a malformed handshake), carrying what
/// the upgrade service needs to run the connection.
fn accept(req: &HttpRequest, handover: Handover) -> Result<HttpResponse, actix_web::Error> {
    let mut res = ws::handshake(req)?.finish();
    res.extensions_mut().insert(handover);
    Ok(res)
}

/// Marks a request that the upgrade service passes to the application.
struct Upgrading;

/// What the endpoint decided, for the upgrade service: the actor to run over the socket.
enum Handover {
    Session(SessionParts),
    /// Failed authentication: accepted, then closed with 4001.
    Rejected {
        max_frame: usize,
    },
}

struct SessionParts {
    app: Arc<AppState>,
    user: entity::user::Model,
    conn: Uuid,
}

impl Handover {
    fn max_frame(&self) -> usize {
        match self {
            Handover::Session(parts) => parts.app.settings.limits.max_frame_bytes,
            Handover::Rejected { max_frame } => *max_frame,
        }
    }
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The first `name=` of the query string, percent-decoded.
fn first_query_value(req: &HttpRequest, name: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A connection that failed authentication: accepted, then closed at once with 4001, so that
/// browsers can read the code.
struct Rejected;

impl Actor for Rejected {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(AUTH_FAILED.0),
            description: Some(AUTH_FAILED.1.to_string()),
        }));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Rejected {
    fn handle(&mut self, _msg: Result<ws::Message, ws::ProtocolError>, _ctx: &mut Self::Context) {}
}
