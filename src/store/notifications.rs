//! Pending notifications: the only code that writes, reads or deletes notification rows.
//! They are written in the transaction of the event they are about (a send, a reaction) and
//! removed in the transaction of the event that settles them (an acknowledgement, a delete, a
//! leave), so what a user is owed is exactly what has committed. The `NotificationActor`
//! (`crate::notifications`) drives what happens around them: the bounded replay at connect,
//! the push to offline recipients after the commit, the sweep of orphans. Every list that
//! grows with input or backlog is bound in [`super::chunks`]; the replay binds three values
//! whatever the backlog.

use chrono::{DateTime, Utc};
use entity::{message, notification, notification_recipient, room};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement, WindowStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Set,
};
use uuid::Uuid;

use super::{chunks, StoreError};

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

/// Records that `recipients` are owed a notification of `kind` about `message_id`; returns its
/// id. Nobody to tell, no row (a notification without recipients is never seen, §14.2).
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    message_id: Uuid,
    kind: NotificationKind,
    recipients: &[i64],
    at: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    if recipients.is_empty() {
        return Ok(None);
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
    // Two columns a row; a channel may have any number of subscribers.
    for chunk in chunks(recipients, 2) {
        notification_recipient::Entity::insert_many(chunk.iter().map(|u| {
            notification_recipient::ActiveModel {
                notification_id: Set(id),
                user_id: Set(*u),
                ..Default::default()
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(Some(id))
}

/// Deletes every notification about these messages, whoever is still owed it (a deleted
/// message, soft or hard, is nobody's news any more: §14.3).
pub async fn delete_for_messages<C: ConnectionTrait>(
    txn: &C,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    for chunk in chunks(message_ids, 1) {
        notification::Entity::delete_many()
            .filter(notification::Column::MessageId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// `message.acknowledged`: `user_id` is no longer owed any notification of these messages
/// (all three kinds, §14.3); notifications nobody is owed any more are deleted.
pub async fn acknowledge<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    for chunk in chunks(message_ids, 1) {
        let of_these_messages = Query::select()
            .column(notification::Column::Id)
            .from(notification::Entity)
            .and_where(notification::Column::MessageId.is_in(chunk.iter().copied()))
            .to_owned();
        release(txn, &[user_id], of_these_messages).await?;
    }
    Ok(())
}

/// `users` are no longer owed the notifications `among` selects (a query of notification ids);
/// those nobody is owed any more are deleted.
pub async fn release<C: ConnectionTrait>(
    txn: &C,
    users: &[i64],
    among: SelectStatement,
) -> Result<(), StoreError> {
    for chunk in chunks(users, 1) {
        notification_recipient::Entity::delete_many()
            .filter(notification_recipient::Column::UserId.is_in(chunk.iter().copied()))
            .filter(notification_recipient::Column::NotificationId.in_subquery(among.clone()))
            .exec(txn)
            .await?;
    }
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

/// Deletes notifications nobody is owed: a recipient row goes with its user (`chatd users
/// delete` cascades), which can leave a notification without recipients. Returns how many.
pub async fn sweep_orphans<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    let owed = Query::select()
        .column(notification_recipient::Column::NotificationId)
        .from(notification_recipient::Entity)
        .to_owned();
    Ok(notification::Entity::delete_many()
        .filter(notification::Column::Id.not_in_subquery(owed))
        .exec(db)
        .await?
        .rows_affected)
}

/// One notification a user is owed, as the replay chooses among them.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Pending {
    pub id: Uuid,
    pub message_id: Uuid,
    pub notification_type: String,
    pub created_at: DateTime<Utc>,
    pub room_id: Uuid,
    pub room_created_at: DateTime<Utc>,
}

/// The notifications `user_id` is owed, at most `per_room` of each room — the newest — and at
/// most `limit` in all, newest first (ties by id). One statement binding three values,
/// whatever the backlog: a window ranks each room's notifications, so the database never
/// hands over more rows than the replay can use.
pub async fn newest_pending<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    per_room: u64,
    limit: u64,
) -> Result<Vec<Pending>, StoreError> {
    let (n, r) = (notification::Entity, notification_recipient::Entity);
    let rank = Alias::new("rank_in_room");
    let per_room = i64::try_from(per_room).unwrap_or(i64::MAX);
    let mut newest_in_room =
        WindowStatement::partition_by((message::Entity, message::Column::RoomId));
    newest_in_room
        .order_by((n, notification::Column::CreatedAt), Order::Desc)
        .order_by((n, notification::Column::Id), Order::Desc);
    let ranked = Query::select()
        .column((n, notification::Column::Id))
        .column((n, notification::Column::MessageId))
        .column((n, notification::Column::NotificationType))
        .column((n, notification::Column::CreatedAt))
        .expr_as(
            Expr::col((message::Entity, message::Column::RoomId)),
            Alias::new("room_id"),
        )
        .expr_as(
            Expr::col((room::Entity, room::Column::CreatedAt)),
            Alias::new("room_created_at"),
        )
        .expr_window_as(Expr::cust("ROW_NUMBER()"), newest_in_room, rank.clone())
        .from(r)
        .inner_join(
            n,
            Expr::col((n, notification::Column::Id))
                .equals((r, notification_recipient::Column::NotificationId)),
        )
        .inner_join(
            message::Entity,
            Expr::col((message::Entity, message::Column::Id))
                .equals((n, notification::Column::MessageId)),
        )
        .inner_join(
            room::Entity,
            Expr::col((room::Entity, room::Column::Id))
                .equals((message::Entity, message::Column::RoomId)),
        )
        .and_where(Expr::col((r, notification_recipient::Column::UserId)).eq(user_id))
        .to_owned();
    let ranked_alias = Alias::new("ranked");
    let newest = Query::select()
        .columns(
            [
                "id",
                "message_id",
                "notification_type",
                "created_at",
                "room_id",
                "room_created_at",
            ]
            .map(|c| (ranked_alias.clone(), Alias::new(c))),
        )
        .from_subquery(ranked, ranked_alias.clone())
        .and_where(Expr::col((ranked_alias.clone(), rank)).lte(per_room))
        .order_by(
            (ranked_alias.clone(), Alias::new("created_at")),
            Order::Desc,
        )
        .order_by((ranked_alias, Alias::new("id")), Order::Desc)
        .limit(limit)
        .to_owned();
    let statement = db.get_database_backend().build(&newest);
    Ok(Pending::find_by_statement(statement).all(db).await?)
}
