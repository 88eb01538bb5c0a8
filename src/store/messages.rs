//! Messages: creation (with attachments and notifications, atomically) and delivery.

use entity::{attachment, message, message_delivery, notification, notification_recipient, room};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{now, StoreError};
use crate::protocol::client::MediaItem;
use crate::sanitize::SafeHtml;

pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<message::Model>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(message::Entity::find()
        .filter(message::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: Uuid,
    pub sender_id: i64,
    pub content: SafeHtml,
    pub parent_message_id: Option<Uuid>,
    pub forwarded_from_id: Option<Uuid>,
    pub is_forwarded: bool,
    pub media: Vec<MediaItem>,
    /// `NEW_MESSAGE` or `REPLY`; `None` when notifications are off.
    pub notification_type: Option<&'static str>,
}

/// Stores a message, its attachments, the room's `last_message` and a notification for
/// `recipients` (when notifications are on and there is anyone to tell). The caller owns the
/// transaction: the message is durable once the caller commits it.
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    new: NewMessage,
    recipients: &[i64],
) -> Result<message::Model, StoreError> {
    let at = now();
    let id = Uuid::new_v4();
    let stored = message::ActiveModel {
        id: Set(id),
        room_id: Set(new.room_id),
        sender_id: Set(new.sender_id),
        content: Set(new.content.into_string()),
        is_deleted: Set(false),
        created_at: Set(at),
        updated_at: Set(at),
        parent_message_id: Set(new.parent_message_id),
        is_forwarded: Set(new.is_forwarded),
        forwarded_from_id: Set(new.forwarded_from_id),
        is_edited: Set(false),
    }
    .insert(txn)
    .await?;

    if !new.media.is_empty() {
        attachment::Entity::insert_many(new.media.into_iter().enumerate().map(|(i, m)| {
            attachment::ActiveModel {
                id: Set(Uuid::new_v4()),
                message_id: Set(id),
                position: Set(i as i32),
                media_url: Set(m.media_url),
                media_type: Set(m.media_type),
                file_size: Set(m.file_size),
                mime_type: Set(m.mime_type),
                caption: Set(m.caption),
                metadata: Set(m.metadata),
            }
        }))
        .exec(txn)
        .await?;
    }

    room::Entity::update_many()
        .col_expr(room::Column::LastMessageId, Expr::value(id))
        .col_expr(room::Column::UpdatedAt, Expr::value(at))
        .filter(room::Column::Id.eq(new.room_id))
        .exec(txn)
        .await?;

    // A notification nobody will ever see is not worth a row (messages.md §14.2).
    if let Some(kind) = new.notification_type.filter(|_| !recipients.is_empty()) {
        let notification_id = Uuid::new_v4();
        notification::ActiveModel {
            id: Set(notification_id),
            message_id: Set(id),
            notification_type: Set(kind.to_string()),
            created_at: Set(at),
        }
        .insert(txn)
        .await?;
        notification_recipient::Entity::insert_many(recipients.iter().map(|u| {
            notification_recipient::ActiveModel {
                notification_id: Set(notification_id),
                user_id: Set(*u),
                ..Default::default()
            }
        }))
        .exec(txn)
        .await?;
    }
    Ok(stored)
}

/// `message.acknowledged`: `user_id` leaves the recipients of every notification of these
/// messages (emptied notifications are deleted) and joins their `delivered_to`. Idempotent.
pub async fn acknowledge<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    if message_ids.is_empty() {
        return Ok(());
    }
    let of_these_messages = Query::select()
        .column(notification::Column::Id)
        .from(notification::Entity)
        .and_where(notification::Column::MessageId.is_in(message_ids.iter().copied()))
        .to_owned();
    notification_recipient::Entity::delete_many()
        .filter(notification_recipient::Column::UserId.eq(user_id))
        .filter(notification_recipient::Column::NotificationId.in_subquery(of_these_messages))
        .exec(txn)
        .await?;
    let still_owed = Query::select()
        .column(notification_recipient::Column::NotificationId)
        .from(notification_recipient::Entity)
        .to_owned();
    notification::Entity::delete_many()
        .filter(notification::Column::MessageId.is_in(message_ids.iter().copied()))
        .filter(notification::Column::Id.not_in_subquery(still_owed))
        .exec(txn)
        .await?;
    let at = now();
    message_delivery::Entity::insert_many(message_ids.iter().map(|m| {
        message_delivery::ActiveModel {
            message_id: Set(*m),
            user_id: Set(user_id),
            delivered_at: Set(at),
            ..Default::default()
        }
    }))
    .on_conflict(
        OnConflict::columns([
            message_delivery::Column::MessageId,
            message_delivery::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}
