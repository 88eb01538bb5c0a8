//! `message.send`, the room's side: may the sender post (against the state now), then the
//! message, its attachments, its notification and one more unread message for every other
//! member, in one transaction; once committed, the `NotificationActor` hears of the
//! notification (push).
//!
//! A message without attachments, reply or forward (most of them) is written with the other
//! such messages of its batch by the writer's multi-row statements ([`Write::planned`],
//! `store::messages::create_many`); when that batch fails and is run again one write at a
//! time, [`Write::write`] writes it alone the same way.

use sea_orm::DatabaseTransaction;

use super::{After, Dispatch, Outcome, Write, WriteError};
use crate::notifications::Created;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, MessageView};
use crate::protocol::Timestamp;
use crate::rooms::messages::Post;
use crate::rooms::room::{Action, Room};
use crate::store;
use crate::store::messages::{Planned, Written};

impl Post {
    /// Everyone in `room` but the sender is owed a notification (messages.md §14.2).
    fn recipients(&self, room: &Room) -> Vec<i64> {
        let sender = self.message.sender_id;
        // Sized once: collected from a filter, it would grow by doubling, a handful of
        // allocations for every message of a large room.
        let mut recipients = Vec::with_capacity(room.members.len());
        recipients.extend(room.members.iter().copied().filter(|u| *u != sender));
        recipients
    }

    /// No attachments, reply or forward: nothing to look up to render it once written.
    fn is_plain(&self) -> bool {
        let m = &self.message;
        m.parent_message_id.is_none() && m.forwarded_from_id.is_none() && m.media.is_empty()
    }

    /// The outcome of the message stored as `view`, with its notification if it has one.
    fn outcome(
        &self,
        room: &Room,
        view: MessageView,
        notification: Option<uuid::Uuid>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Outcome<MessageView> {
        let notice = notification
            .zip(self.message.notification_type)
            .map(|(id, kind)| Created {
                notification_id: id,
                kind,
                room_id: room.id,
                message_id: view.id,
                actor: self.sender.clone(),
                content: view.content.clone(),
                reaction: None,
                recipients: self.recipients(room),
                at,
            });
        let frame = routed(event::MESSAGE, &view);
        Outcome {
            after: After::Unchanged,
            dispatches: vec![Dispatch::to_members(frame)],
            answer: view,
            notice,
        }
    }
}

impl Write for Post {
    type Answer = MessageView;

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<MessageView>, WriteError> {
        if let Some(planned) = self.planned(room) {
            let stored = store::messages::create_many(txn, &[planned])
                .await?
                .pop()
                .ok_or_else(|| ChatError::internal("message.send", "nothing written"))?;
            return self.written(room, stored);
        }
        let sender = self.message.sender_id;
        room.authorize(sender, Action::Post)?;
        let recipients = self.recipients(room);
        let store::messages::Stored {
            message: stored,
            notification,
        } = store::messages::create(txn, self.message.clone(), &recipients).await?;
        store::unread::count_new_message(txn, room.id, sender).await?;
        let view = store::render::message_views(txn, &[stored.id])
            .await?
            .pop()
            .ok_or_else(|| ChatError::internal("message.send", "stored message not found"))?;
        Ok(self.outcome(room, view, notification, stored.created_at))
    }

    fn planned(&self, room: &Room) -> Option<Planned> {
        let allowed = room.authorize(self.message.sender_id, Action::Post).is_ok();
        (allowed && self.is_plain()).then(|| Planned {
            message: self.message.clone(),
            recipients: room.members.len() - usize::from(room.is_member(self.message.sender_id)),
        })
    }

    fn written(&self, room: &Room, stored: Written) -> Result<Outcome<MessageView>, WriteError> {
        // Nothing to look up: a new plain message has no receipts, reactions or deliveries
        // yet.
        let view = MessageView::fresh(
            stored.id,
            room.id,
            self.sender.clone(),
            self.message.content.as_str().to_owned(),
            Timestamp(stored.created_at),
            self.message.is_forwarded,
        );
        Ok(self.outcome(room, view, stored.notification, stored.created_at))
    }
}
