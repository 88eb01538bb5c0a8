//! `message.read`: read receipts, one message (single mode) or many (bulk, across rooms). All
//! the rooms involved are lent to this event at once, so the receipts are one transaction
//! (all or none: one message already read refuses the batch with 4005) that no leave can
//! overtake, and each room's `readreceipt.dispatch` takes its place in that room's order.

use uuid::Uuid;

use super::gate::{check_in_order, live_messages, still_live};
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::MessageRead;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, MessageView};
use crate::rooms::lease;
use crate::rooms::room::Action;
use crate::store;
use crate::store::messages::References;

pub async fn read(
    app: &AppState,
    caller: &Caller,
    req: MessageRead,
) -> Result<Option<Frame>, ChatError> {
    let user_id = caller.user.id;
    if req.ids.is_empty() {
        return Ok(None);
    }
    let found = live_messages(&app.reader, &req.ids).await?;
    let mut leases = lease::borrow_all(&app.rooms, found.values().map(|m| m.room_id)).await?;
    check_in_order(&req.ids, &found, |room| match leases.get(&room) {
        Some(lease) => lease.room().authorize(user_id, Action::UseMessages),
        None => Err(ChatError::NotFound),
    })?;

    // One's own messages are not read, they are skipped (and a single own message is no
    // event at all, messages.md §10.3).
    let selected: Vec<Uuid> = req
        .ids
        .iter()
        .copied()
        .filter(|id| found.get(id).is_some_and(|m| m.sender_id != user_id))
        .collect();
    if selected.is_empty() {
        return Ok(None);
    }
    app.rooms
        .writer()
        .transaction(References::Checked, async |txn| -> Result<(), ChatError> {
            still_live(txn, &selected).await?;
            Ok(store::messages::mark_read(txn, user_id, &selected).await?)
        })
        .await?;

    // One frame per room: the message itself in single mode, an array in bulk mode (rooms in
    // order of first appearance, messages in request order).
    let views = store::render::message_views(&app.reader, &selected).await?;
    let mut by_room: Vec<(Uuid, Vec<MessageView>)> = Vec::new();
    for view in views {
        match by_room.iter_mut().find(|(room, _)| *room == view.room.id) {
            Some((_, group)) => group.push(view),
            None => by_room.push((view.room.id, vec![view])),
        }
    }
    for (room, group) in by_room {
        let frame = match (req.bulk, group.as_slice()) {
            (false, [single]) => routed(event::READ_RECEIPT, single),
            _ => routed(event::READ_RECEIPT, &group),
        };
        if let Some(lease) = leases.remove(&room) {
            lease.give_back(vec![frame]).await;
        }
    }
    Ok(None)
}
