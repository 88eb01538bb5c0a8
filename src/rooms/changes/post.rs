//! `message.send`, the room's side: may the sender post (against the state now), then the
//! message, its attachments, its notification and one more unread message for every other
//! member, in one transaction; once committed, the `NotificationActor` hears of the
//! notification (push).

use sea_orm::DatabaseTransaction;

use super::{After, Dispatch, Outcome, Write, WriteError};
use crate::notifications::Created;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, MessageView};
use crate::protocol::Timestamp;
use crate::rooms::messages::Post;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for Post {
    type Answer = MessageView;

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<MessageView>, WriteError> {
        let sender = self.message.sender_id;
        room.authorize(sender, Action::Post)?;
        // Everyone but the sender is owed a notification (messages.md §14.2).
        let recipients: Vec<i64> = room
            .members
            .iter()
            .copied()
            .filter(|u| *u != sender)
            .collect();
        let message = self.message.clone();
        let kind = message.notification_type;
        let plain = message.parent_message_id.is_none()
            && message.forwarded_from_id.is_none()
            && message.media.is_empty();
        let store::messages::Stored {
            message: stored,
            notification,
        } = store::messages::create(txn, message, &recipients).await?;
        store::unread::count_new_message(txn, room.id, sender).await?;
        let notice = notification.zip(kind).map(|(id, kind)| Created {
            notification_id: id,
            kind,
            room_id: room.id,
            message_id: stored.id,
            actor: self.sender.clone(),
            content: stored.content.clone(),
            reaction: None,
            recipients: recipients.clone(),
            at: stored.created_at,
        });
        let view = if plain {
            // Nothing to look up: a new plain message has no receipts, reactions or
            // deliveries yet.
            MessageView::fresh(
                stored.id,
                room.id,
                self.sender.clone(),
                stored.content,
                Timestamp(stored.created_at),
                stored.is_forwarded,
            )
        } else {
            store::render::message_views(txn, &[stored.id])
                .await?
                .pop()
                .ok_or_else(|| ChatError::internal("message.send", "stored message not found"))?
        };
        let frame = routed(event::MESSAGE, &view);
        Ok(Outcome {
            after: After::Unchanged,
            dispatches: vec![Dispatch::to_members(frame)],
            answer: view,
            notice,
        })
    }
}
