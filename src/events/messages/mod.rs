//! `message.*` events (and `room.messages`), one file each; `gate` holds the checks they share.
//!
//! The events that change messages outside the room actor (edits, deletes, reactions, read
//! and delivery receipts) run detached from the asking connection ([`to_completion`]): the
//! session drops its pending event when it stops, and a change must not be committed and
//! then never dispatched because its sender hung up in between. (`message.send` needs no such
//! care: the room actor runs it.)

mod acknowledged;
mod content;
mod gate;
mod history;
mod modify;
mod react;
mod read;
mod send;
mod typing;

use std::future::Future;
use std::sync::Arc;

use uuid::Uuid;

pub use history::room_messages;
pub use send::{prepare as prepare_send, queue as queue_send, send, sent, Prepared};
pub use typing::typing;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{MessageModify, MessageReact, MessageRead};
use crate::protocol::errors::ChatError;
use crate::protocol::server::Frame;

type Answer = Result<Option<Frame>, ChatError>;

/// Runs `change` as a task of its own and waits for it: if the asking connection goes away,
/// the task still commits and dispatches; the answer reaches the asker if it is still there.
async fn to_completion(change: impl Future<Output = Answer> + 'static) -> Answer {
    actix_rt::spawn(change)
        .await
        .unwrap_or_else(|e| Err(ChatError::internal("message change", e)))
}

pub async fn modify(app: Arc<AppState>, caller: Caller, req: MessageModify) -> Answer {
    to_completion(async move { modify::modify(&app, &caller, req).await }).await
}

pub async fn react(app: Arc<AppState>, caller: Caller, req: MessageReact) -> Answer {
    to_completion(async move { react::react(&app, &caller, req).await }).await
}

pub async fn read(app: Arc<AppState>, caller: Caller, req: MessageRead) -> Answer {
    to_completion(async move { read::read(&app, &caller, req).await }).await
}

pub async fn acknowledged(app: Arc<AppState>, caller: Caller, message_ids: Vec<Uuid>) -> Answer {
    to_completion(async move { acknowledged::acknowledged(&app, &caller, &message_ids).await })
        .await
}
