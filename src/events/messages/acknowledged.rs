//! `message.acknowledged`: delivery receipts. The acknowledger leaves the recipients of the
//! messages' notifications and joins their `delivered_to`; each original sender hears about
//! it on all of their devices.

use std::collections::HashMap;

use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::errors::{denied, ChatError};
use crate::protocol::server::{event, routed, Frame, MessageView};
use crate::store::{self, StoreError};

pub async fn acknowledged(
    app: &AppState,
    caller: &Caller,
    message_ids: &[Uuid],
) -> Result<Option<Frame>, ChatError> {
    if message_ids.is_empty() {
        return Ok(None);
    }
    // The gate, id by id in request order: exists and not deleted, then readable.
    let found: HashMap<Uuid, _> = store::messages::find_many(&app.db, message_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let room_ids: Vec<Uuid> = found.values().map(|m| m.room_id).collect();
    let readable = store::rooms::rooms_of_user_among(&app.db, caller.user.id, &room_ids).await?;
    for id in message_ids {
        match found.get(id) {
            Some(m) if !m.is_deleted => {
                if !readable.contains(&m.room_id) {
                    return Err(ChatError::PermissionDenied(denied::ACCESS_MESSAGE));
                }
            }
            _ => return Err(ChatError::NotFound),
        }
    }

    let txn = app.db.begin().await.map_err(StoreError::from)?;
    store::messages::acknowledge(&txn, caller.user.id, message_ids).await?;
    txn.commit().await.map_err(StoreError::from)?;

    // One dispatch per original sender, to all of that sender's connections.
    let views = store::render::message_views(&app.db, message_ids).await?;
    let mut senders: Vec<i64> = Vec::new();
    let mut by_sender: HashMap<i64, Vec<MessageView>> = HashMap::new();
    for view in views {
        let sender = view.sender.id;
        if !by_sender.contains_key(&sender) {
            senders.push(sender);
        }
        by_sender.entry(sender).or_default().push(view);
    }
    for sender in senders {
        let views = by_sender.remove(&sender).unwrap_or_default();
        app.delivery
            .to_user(sender, &routed(event::MESSAGE_DELIVERED, &views));
    }
    Ok(None)
}
