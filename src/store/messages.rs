//! Messages through their life: creation (with attachments and notifications, atomically),
//! edits, soft and hard deletion, reactions, read receipts, deliveries, and the history walk.
//! Every write takes the caller's transaction.

use entity::{attachment, message, message_delivery, reaction, read_receipt, room};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Set,
};
use uuid::Uuid;

use super::notifications::{self, NotificationKind};
use super::render::render;
use super::{chunks, now, unread, StoreError};
use crate::protocol::client::MediaItem;
use crate::protocol::server::MessageView;
use crate::sanitize::SafeHtml;

pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<message::Model>, StoreError> {
    let mut found = Vec::new();
    for chunk in chunks(ids, 1) {
        found.extend(
            message::Entity::find()
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
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
    /// `NewMessage` or `Reply`; `None` when notifications are off.
    pub notification_type: Option<NotificationKind>,
}

/// A message as [`create`] stored it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: message::Model,
    /// The notification recorded for the other members, if any was.
    pub notification: Option<Uuid>,
}

/// Stores a message, its attachments, the room's `last_message` and message count, and a
/// notification for `recipients` (when notifications are on and there is anyone to tell):
/// the same few rows whatever the number of recipients. The caller owns the transaction:
/// the message is durable once the caller commits it.
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    new: NewMessage,
    recipients: &[i64],
) -> Result<Stored, StoreError> {
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

    use sea_orm::sea_query::ExprTrait;

    let media: Vec<(usize, MediaItem)> = new.media.into_iter().enumerate().collect();
    // Nine columns a row.
    for chunk in chunks(&media, 9) {
        attachment::Entity::insert_many(chunk.iter().cloned().map(|(i, m)| {
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
        .exec_without_returning(txn)
        .await?;
    }

    room::Entity::update_many()
        .col_expr(room::Column::LastMessageId, Expr::value(id))
        .col_expr(room::Column::UpdatedAt, Expr::value(at))
        .col_expr(
            room::Column::MessagesPosted,
            Expr::col(room::Column::MessagesPosted).add(1),
        )
        .filter(room::Column::Id.eq(new.room_id))
        .exec(txn)
        .await?;

    let notification = match new.notification_type {
        Some(kind) => {
            let (room_id, sender) = (new.room_id, new.sender_id);
            notifications::create(txn, room_id, id, kind, sender, recipients, at).await?
        }
        None => None,
    };
    Ok(Stored {
        message: stored,
        notification,
    })
}

/// `message.acknowledged`: `user_id` leaves the recipients of every notification of these
/// messages (emptied notifications are deleted) and joins their `delivered_to`. Idempotent.
pub async fn acknowledge<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    notifications::acknowledge(txn, user_id, message_ids).await?;
    let at = now();
    // Three columns a row.
    for chunk in chunks(message_ids, 3) {
        message_delivery::Entity::insert_many(chunk.iter().map(|m| {
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
    }
    Ok(())
}

/// An edit: new content, `is_edited`, `updated_at` now (messages.md §8.4 step 6). Receipts,
/// reactions, deliveries and notifications are left as they are.
pub async fn edit<C: ConnectionTrait>(
    txn: &C,
    message_id: Uuid,
    content: SafeHtml,
) -> Result<(), StoreError> {
    message::Entity::update_many()
        .col_expr(message::Column::Content, Expr::value(content.into_string()))
        .col_expr(message::Column::IsEdited, Expr::value(true))
        .col_expr(message::Column::UpdatedAt, Expr::value(now()))
        .filter(message::Column::Id.eq(message_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// How `message.modify` deletes (`messages.soft_delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Rows go, with everything below them; replies and forwards lose their source.
    Hard,
    /// `is_deleted` is set (`updated_at` untouched); the message renders empty wherever it is
    /// still shown (DECISIONS 25) and is gone from every message event.
    Soft,
}

/// Deletes messages of `room_id` and every notification about them (§8.3). A hard delete
/// that takes the room's last message moves `last_message` back to the newest message left;
/// a soft delete leaves it pointing at the (now empty) message, as the reference does.
pub async fn delete<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    message_ids: &[Uuid],
    how: Deletion,
) -> Result<(), StoreError> {
    notifications::delete_for_messages(txn, message_ids).await?;
    unread::forget_deleted(txn, room_id, message_ids).await?;
    match how {
        Deletion::Soft => {
            for chunk in chunks(message_ids, 1) {
                message::Entity::update_many()
                    .col_expr(message::Column::IsDeleted, Expr::value(true))
                    .filter(message::Column::Id.is_in(chunk.iter().copied()))
                    .exec(txn)
                    .await?;
            }
        }
        Deletion::Hard => {
            for chunk in chunks(message_ids, 1) {
                message::Entity::delete_many()
                    .filter(message::Column::Id.is_in(chunk.iter().copied()))
                    .exec(txn)
                    .await?;
            }
            // The foreign key has nulled `last_message_id` if it pointed at one of them.
            let newest = history(room_id, Newest::First).limit(1).into_query();
            room::Entity::update_many()
                .col_expr(room::Column::LastMessageId, newest.into())
                .filter(room::Column::Id.eq(room_id))
                .filter(room::Column::LastMessageId.is_null())
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// What adding a reaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacted {
    Added,
    /// The user's reaction with other content was replaced (new id, new time).
    Replaced,
    /// The user already had exactly this reaction: nothing changed (DECISIONS 24).
    Unchanged,
}

/// The user's one reaction to a message becomes `content` (messages.md §9.3).
pub async fn react<C: ConnectionTrait>(
    txn: &C,
    message_id: Uuid,
    user_id: i64,
    content: &str,
) -> Result<Reacted, StoreError> {
    let existing = reaction::Entity::find()
        .filter(reaction::Column::MessageId.eq(message_id))
        .filter(reaction::Column::UserId.eq(user_id))
        .one(txn)
        .await?;
    let outcome = match existing {
        Some(r) if r.reaction_content == content => return Ok(Reacted::Unchanged),
        Some(r) => {
            reaction::Entity::delete_by_id(r.id).exec(txn).await?;
            Reacted::Replaced
        }
        None => Reacted::Added,
    };
    reaction::ActiveModel {
        id: Set(Uuid::new_v4()),
        message_id: Set(message_id),
        user_id: Set(user_id),
        reaction_content: Set(content.to_string()),
        created_at: Set(now()),
    }
    .insert(txn)
    .await?;
    Ok(outcome)
}

/// Removes the user's reaction to a message, whatever it is; whether there was one.
pub async fn unreact<C: ConnectionTrait>(
    txn: &C,
    message_id: Uuid,
    user_id: i64,
) -> Result<bool, StoreError> {
    let deleted = reaction::Entity::delete_many()
        .filter(reaction::Column::MessageId.eq(message_id))
        .filter(reaction::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// One read receipt per message, all or none: a message the user has already read refuses
/// the whole batch with the unique constraint (4005, as the reference). The reader's unread
/// counters drop by the messages that were counted for them.
pub async fn mark_read<C: ConnectionTrait>(
    txn: &C,
    reader_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    unread::forget_read(txn, reader_id, message_ids).await?;
    let at = now();
    // Four columns a row.
    for chunk in chunks(message_ids, 4) {
        read_receipt::Entity::insert_many(chunk.iter().map(|m| read_receipt::ActiveModel {
            id: Set(Uuid::new_v4()),
            message_id: Set(*m),
            reader_id: Set(reader_id),
            read_at: Set(at),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Which end of a room's history comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest {
    First,
    Last,
}

/// The ids of a room's live (not soft-deleted) messages in history order — newest first,
/// ties broken by id — or the reverse. It walks the index
/// `idx_messages_room_id_is_deleted_created_at_id` in one direction or the other and stops
/// after its LIMIT, so a page costs the same in a room of ten messages or of millions (only
/// the OFFSET is walked, never the rest of the room).
pub fn history(room_id: Uuid, newest: Newest) -> Select<message::Entity> {
    let select = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::RoomId.eq(room_id))
        .filter(message::Column::IsDeleted.eq(false));
    match newest {
        Newest::First => select
            .order_by_desc(message::Column::CreatedAt)
            .order_by_desc(message::Column::Id),
        Newest::Last => select
            .order_by_asc(message::Column::CreatedAt)
            .order_by_asc(message::Column::Id),
    }
}

/// Up to `limit` (all when `None`) messages of the room's [`history`] after skipping
/// `offset`, rendered in that order, and whether more follow. Seven queries whatever the
/// limit: the ids (one more than asked, to see whether more follow) and the render of the
/// same slice. Run it in a snapshot ([`super::read_snapshot`]) so both see the same slice.
pub async fn history_page<C: ConnectionTrait>(
    db: &C,
    room_id: Uuid,
    newest: Newest,
    offset: u64,
    limit: Option<u64>,
) -> Result<(Vec<MessageView>, bool), StoreError> {
    // SQLite accepts OFFSET only after a LIMIT; both are bound as signed 64-bit numbers.
    let slice = |limit: Option<u64>| {
        let select = history(room_id, newest);
        match (limit, offset) {
            (None, 0) => select,
            (limit, offset) => select
                .limit(limit.unwrap_or(i64::MAX as u64).min(i64::MAX as u64))
                .offset(offset),
        }
    };
    let mut ids: Vec<Uuid> = slice(limit.map(|l| l.saturating_add(1)))
        .into_tuple()
        .all(db)
        .await?;
    let more = limit.is_some_and(|l| ids.len() as u64 > l);
    if let Some(limit) = limit {
        ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    if ids.is_empty() {
        return Ok((Vec::new(), more));
    }
    let views = render(db, slice(limit).into_query(), &ids).await?;
    Ok((views, more))
}

/// How many live messages the room has: a count over the history index alone (only the id
/// is selected, so no table row is read), linear in the room's size.
pub async fn count_live<C: ConnectionTrait>(db: &C, room_id: Uuid) -> Result<u64, StoreError> {
    Ok(message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::RoomId.eq(room_id))
        .filter(message::Column::IsDeleted.eq(false))
        .count(db)
        .await?)
}
