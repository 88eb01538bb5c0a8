//! Pending notifications: written with the event they are about, removed when acknowledged or
//! when their message is deleted, replayed to a user when they connect. The write functions
//! take the caller's transaction, so any event (or a future notification owner) can call them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{message, notification, notification_recipient, room};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::render::render;
use super::StoreError;
use crate::protocol::server::NotificationView;

/// What a notification is about (messages.md §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    NewMessage,
    Reply,
    Reaction,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::NewMessage => "NEW_MESSAGE",
            NotificationKind::Reply => "REPLY",
            NotificationKind::Reaction => "REACTION",
        }
    }
}

/// Records that `recipients` are owed a notification of `kind` about `message_id`. Nobody to
/// tell, no row (a notification without recipients is never seen, §14.2).
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    message_id: Uuid,
    kind: NotificationKind,
    recipients: &[i64],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if recipients.is_empty() {
        return Ok(());
    }
    let id = Uuid::new_v4();
    notification::ActiveModel {
        id: Set(id),
        message_id: Set(message_id),
        notification_type: Set(kind.as_str().to_string()),
        created_at: Set(at),
    }
    .insert(txn)
    .await?;
    notification_recipient::Entity::insert_many(recipients.iter().map(|u| {
        notification_recipient::ActiveModel {
            notification_id: Set(id),
            user_id: Set(*u),
            ..Default::default()
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// Deletes every notification about these messages, whoever is still owed it (a deleted
/// message, soft or hard, is nobody's news any more: §14.3).
pub async fn delete_for_messages<C: ConnectionTrait>(
    txn: &C,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    if message_ids.is_empty() {
        return Ok(());
    }
    notification::Entity::delete_many()
        .filter(notification::Column::MessageId.is_in(message_ids.iter().copied()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Every notification `user_id` is still owed, grouped by room: rooms newest first, items
/// oldest first (messages.md §14.4).
pub async fn pending_for<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<(Uuid, Vec<NotificationView>)>, StoreError> {
    let owed = Query::select()
        .column(notification_recipient::Column::NotificationId)
        .from(notification_recipient::Entity)
        .and_where(notification_recipient::Column::UserId.eq(user_id))
        .to_owned();
    let pending = notification::Entity::find()
        .filter(notification::Column::Id.in_subquery(owed.clone()))
        .order_by_asc(notification::Column::CreatedAt)
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut message_ids: Vec<Uuid> = pending.iter().map(|n| n.message_id).collect();
    message_ids.dedup();
    // The messages are selected by the same subquery, not bound as a list: a user can be owed
    // any number of them.
    let their_messages = Query::select()
        .column(notification::Column::MessageId)
        .from(notification::Entity)
        .and_where(notification::Column::Id.in_subquery(owed))
        .to_owned();
    let views: HashMap<Uuid, _> = render(db, their_messages, &message_ids)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let room_ids: Vec<Uuid> = views.values().map(|v| v.room.id).collect();
    let rooms = room::Entity::find()
        .filter(room::Column::Id.is_in(room_ids))
        .order_by_desc(room::Column::CreatedAt)
        .all(db)
        .await?;
    let mut by_room: HashMap<Uuid, Vec<NotificationView>> = HashMap::new();
    for n in pending {
        if let Some(view) = views.get(&n.message_id) {
            by_room
                .entry(view.room.id)
                .or_default()
                .push(NotificationView {
                    id: n.id,
                    message: view.clone(),
                    notification_type: n.notification_type,
                });
        }
    }
    Ok(rooms
        .into_iter()
        .filter_map(|r| by_room.remove(&r.id).map(|items| (r.id, items)))
        .collect())
}

/// `users` are no longer owed the notifications `among` selects (a query of notification ids);
/// those nobody is owed any more are deleted.
pub async fn release<C: ConnectionTrait>(
    txn: &C,
    users: &[i64],
    among: SelectStatement,
) -> Result<(), StoreError> {
    notification_recipient::Entity::delete_many()
        .filter(notification_recipient::Column::UserId.is_in(users.iter().copied()))
        .filter(notification_recipient::Column::NotificationId.in_subquery(among.clone()))
        .exec(txn)
        .await?;
    let still_owed = Query::select()
        .column(notification_recipient::Column::NotificationId)
        .from(notification_recipient::Entity)
        .to_owned();
    notification::Entity::delete_many()
        .filter(notification::Column::Id.in_subquery(among))
        .filter(notification::Column::Id.not_in_subquery(still_owed))
        .exec(txn)
        .await?;
    Ok(())
}

/// `users` are no longer owed any notification about messages of `room_id` (they left or were
/// removed: DECISIONS 26).
pub async fn drop_for_room<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
) -> Result<(), StoreError> {
    let messages_of_room = Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::RoomId.eq(room_id))
        .to_owned();
    let of_room = Query::select()
        .column(notification::Column::Id)
        .from(notification::Entity)
        .and_where(notification::Column::MessageId.in_subquery(messages_of_room))
        .to_owned();
    release(txn, users, of_room).await
}
