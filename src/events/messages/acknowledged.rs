//! `message.acknowledged`: delivery receipts. The acknowledger leaves the recipients of the
//! messages' notifications and joins their `delivered_to`; each original sender hears about
//! it on all of their devices.

use std::collections::HashMap;

use uuid::Uuid;

use super::gate::{check_in_order, live_messages, message_rights};
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, MessageView};
use crate::store;
use crate::store::messages::References;

pub async fn acknowledged(
    app: &AppState,
    caller: &Caller,
    message_ids: &[Uuid],
) -> Result<Option<Frame>, ChatError> {
    if message_ids.is_empty() {
        return Ok(None);
    }
    // The gate, id by id in request order: a live message, in a room whose actor says the
    // caller may use its messages.
    let found = live_messages(&app.reader, message_ids).await?;
    let rooms: Vec<Uuid> = message_ids
        .iter()
        .filter_map(|id| found.get(id).map(|m| m.room_id))
        .collect();
    let rights = message_rights(app, caller.user.id, rooms).await?;
    check_in_order(message_ids, &found, |room| {
        rights
            .get(&room)
            .cloned()
            .unwrap_or(Err(ChatError::NotFound))
    })?;

    let user_id = caller.user.id;
    app.rooms
        .writer()
        .transaction(References::Checked, async |txn| {
            store::messages::acknowledge(txn, user_id, message_ids).await
        })
        .await
        .map_err(ChatError::from)?;

    // One dispatch per original sender, to all of that sender's connections.
    let views = store::render::message_views(&app.reader, message_ids).await?;
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
