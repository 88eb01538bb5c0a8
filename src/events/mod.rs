//! What each client event does: validate, authorise, persist, then hand the dispatch to its
//! audience. Handlers return the frame meant for the asking connection only (if any);
//! everything else goes out through room actors (R(room)) or presence (U(user)).

mod messages;
mod rooms;

use std::fmt::Display;
use std::sync::Arc;

use entity::user;
use uuid::Uuid;

use crate::protocol::client::ClientEvent;
use crate::protocol::errors::ChatError;
use crate::protocol::server::Frame;
use crate::startup::AppState;
use crate::store::StoreError;

/// The authenticated user behind a connection.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: user::Model,
    pub connection_id: Uuid,
}

pub async fn handle(
    app: Arc<AppState>,
    caller: Caller,
    event: ClientEvent,
) -> Result<Option<Frame>, ChatError> {
    match event {
        // Answered by the session itself; never routed here.
        ClientEvent::SessionHeartbeat => Ok(None),
        ClientEvent::RoomCreate(req) => rooms::create(&app, &caller, *req).await,
        ClientEvent::RoomList => rooms::list(&app, &caller).await,
        ClientEvent::RoomInfo { room_id } => rooms::info(&app, &caller, room_id).await,
        ClientEvent::MessageSend(req) => messages::send(&app, &caller, req).await,
        ClientEvent::MessageAcknowledged { message_ids } => {
            messages::acknowledged(&app, &caller, &message_ids).await
        }
    }
}

/// A failure of ours: logged with its cause, reported to the client as 4006.
pub fn internal(context: &str, err: impl Display) -> ChatError {
    log::error!("{context}: {err}");
    ChatError::Internal
}

impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Constraint(e) => {
                log::info!("constraint refused a write: {e}");
                ChatError::Integrity
            }
            StoreError::MissingReference(e) => {
                log::info!("a write referenced a vanished row: {e}");
                ChatError::NotFound
            }
            StoreError::Db(e) => internal("database", e),
        }
    }
}
