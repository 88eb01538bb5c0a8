//! The `NotificationActor`: replays a user's pending notifications when they connect.
//! Notifications themselves are written in the same transaction as the message they are about
//! (`store::messages::create`), so none is lost between commit and replay.

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::logging;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{direct, event, Frame};
use crate::store;

pub struct NotificationActor {
    db: DatabaseConnection,
    enabled: bool,
    mailbox: usize,
}

impl NotificationActor {
    pub fn new(db: DatabaseConnection, enabled: bool, mailbox: usize) -> Self {
        NotificationActor {
            db,
            enabled,
            mailbox,
        }
    }
}

impl Actor for NotificationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

/// The `chat.notifications` frame for a user who just connected; `None` when notifications
/// are disabled (then nothing is sent at all).
#[derive(Message)]
#[rtype(result = "Result<Option<Frame>, ChatError>")]
pub struct PendingFrame {
    pub user_id: i64,
    /// The connection it is for, named in whatever the replay logs.
    pub connection_id: Uuid,
}

impl Handler<PendingFrame> for NotificationActor {
    type Result = ResponseFuture<Result<Option<Frame>, ChatError>>;

    fn handle(&mut self, msg: PendingFrame, _ctx: &mut Self::Context) -> Self::Result {
        let db = self.db.clone();
        let enabled = self.enabled;
        // Each replay runs on its own so that a reconnect storm is limited by the pool, not
        // by this mailbox.
        Box::pin(logging::in_connection(msg.connection_id, async move {
            if !enabled {
                return Ok(None);
            }
            let grouped = store::notifications::pending_for(&db, msg.user_id)
                .await
                .map_err(|e| ChatError::internal("pending notifications", e))?;
            let mut data = Map::new();
            for (room_id, items) in grouped {
                let items = serde_json::to_value(items).map_err(|_| ChatError::Internal)?;
                data.insert(room_id.to_string(), items);
            }
            Ok(Some(direct(event::NOTIFICATIONS, &Value::Object(data))))
        }))
    }
}
