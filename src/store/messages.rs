//! Messages through their life: creation (with attachments and notifications, atomically),
//! edits, soft and hard deletion, reactions, read receipts, deliveries, and the history walk.
//! Every write takes the caller's transaction.

use chrono::{DateTime, Utc};
use entity::{attachment, message, message_delivery, reaction, read_receipt, room, user};
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Set, Statement,
};
use uuid::Uuid;

use super::exec::Exec;
use super::notifications::{self, NotificationKind};
use super::render::render;
use super::script::Script;
use super::template::Templates;
use super::{chunks, now, unread, StoreError};
use crate::protocol::client::MediaItem;
use crate::protocol::server::MessageView;
use crate::sanitize::SafeHtml;

pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<message::Model>, StoreError> {
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for chunk in chunks(ids, 1) {
        let find = by_ids(&FIND, backend, chunk, find_query);
        found.extend(message::Model::find_by_statement(find).all(db).await?);
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

/// A message without attachments, to be stored with others by [`create_many`].
#[derive(Debug, Clone)]
pub struct Planned {
    /// Its `media` must be empty: attachments are written by [`create`] only.
    pub message: NewMessage,
    /// How many members are owed its notification (every member but the sender).
    pub recipients: usize,
}

/// What [`create_many`] stored for one message (the rest is what it was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The notification recorded for the other members, if any was.
    pub notification: Option<Uuid>,
}

/// Stores a message, its attachments, the room's `last_message` and message count, and a
/// notification for `recipients` (when notifications are on and there is anyone to tell):
/// the same few rows whatever the number of recipients. The caller owns the transaction:
/// the message is durable once the caller commits it. The sender's unread counter is the
/// caller's (`unread::count_new_message`); [`create_many`] does it too.
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    mut new: NewMessage,
    recipients: &[i64],
) -> Result<Stored, StoreError> {
    let media = std::mem::take(&mut new.media);
    let mut script = Script::new(txn.get_database_backend());
    let written = script_for(&mut script, [(&new, recipients.len())], false);
    script.run(txn).await?;
    let Written {
        id,
        created_at: at,
        notification,
    } = written[0];

    let media: Vec<(usize, MediaItem)> = media.into_iter().enumerate().collect();
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
    let stored = message::Model {
        id,
        room_id: new.room_id,
        sender_id: new.sender_id,
        content: new.content.into_string(),
        is_deleted: false,
        created_at: at,
        updated_at: at,
        parent_message_id: new.parent_message_id,
        is_forwarded: new.is_forwarded,
        forwarded_from_id: new.forwarded_from_id,
        is_edited: false,
    };
    Ok(Stored {
        message: stored,
        notification,
    })
}

/// Values bound per message row, the widest of [`create_many`]'s statements: what sizes its
/// chunks against the bind limit.
const MESSAGE_ROW_BINDS: usize = 11;

/// The PostgreSQL types of a message row's values, as sqlx binds them ([`super::script::Sql::table`]).
const MESSAGE_TYPES: [&str; MESSAGE_ROW_BINDS] = [
    "uuid",
    "uuid",
    "int8",
    "text",
    "boolean",
    "timestamptz",
    "timestamptz",
    "uuid",
    "boolean",
    "uuid",
    "boolean",
];

/// Stores `messages` (none with attachments) as [`create`] stores one, and counts each as
/// settled for its sender (`unread::count_new_message`), in four statements for all of them
/// (more only past the bind limit, [`chunks`]): the messages, the rooms they update, their
/// notifications, the senders' memberships; those four go to the database as one query
/// (on PostgreSQL as one statement: [`Script::fused`]). The result is in the order of `messages`, and within a room every
/// message is stamped after the one before it, so the room's history order is the order
/// of `messages`.
///
/// A failure fails the whole call (a vanished room or sender, a constraint): the caller
/// rolls back and writes the messages one at a time to find the one at fault.
pub async fn create_many<C: ConnectionTrait>(
    txn: &C,
    messages: &[Planned],
) -> Result<Vec<Written>, StoreError> {
    let mut written = Vec::with_capacity(messages.len());
    for part in chunks(messages, MESSAGE_ROW_BINDS) {
        let mut script = Script::new(txn.get_database_backend());
        let rows = part.iter().map(|p| (&p.message, p.recipients));
        written.extend(script_for(&mut script, rows, true));
        script.run(txn).await?;
    }
    Ok(written)
}

/// How the statements of [`create_many_script`], or of a message change
/// ([`super::writer::Writer::transaction`]), make sure that the rows they reference exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// The schema's foreign keys: each multi-row statement then keeps a statement journal.
    ForeignKeys,
    /// The statements themselves, with foreign keys off ([`Script::checking_references`]):
    /// the room and the sender of each message. A batch with a reply or a forward keeps the
    /// foreign keys (its quoted messages are not checked otherwise). A change: the messages
    /// and the user its rows reference ([`check_references`]), and what would cascade from
    /// the rows it deletes. The writer's own connection runs both kinds with foreign keys
    /// off: switching the pragma expires every statement it has prepared.
    Checked,
}

/// From how many messages on [`create_many_script`] writes statements that check their
/// references themselves. What they spare grows with the batch (the statement journal copies
/// a few pages per message); what they cost does not so much: turning SQLite's foreign keys
/// off and on expires every prepared statement of the connection, so the batch's statements
/// are prepared anew each time where those of a repeated shape would come from the cache, and
/// turning them on again is one more round trip to the database's thread. Measured with
/// `benches/batch_write.rs` (where every shape repeats, the case least favourable to them):
/// dearer up to 16 messages, even at 32, cheaper from 64 (docs/performance.md, "The statement
/// journal of a batch"). The writer's own SQLite connection ([`super::direct`]) changes the
/// pragma only when the form changes, so it writes every batch in the checked form.
pub const CHECKED_FROM: usize = 32;

/// The statements of [`create_many`] for `messages`, for the caller to run as a transaction
/// of its own ([`Script::run_committed`]), and what they will have stored once committed;
/// `None` when they do not fit one statement each ([`chunks`]): [`create_many`] writes those.
/// From [`CHECKED_FROM`] messages on, the statements check the rows they reference
/// themselves ([`References::Checked`]).
pub fn create_many_script(
    backend: DatabaseBackend,
    messages: &[Planned],
) -> Option<(Script, Vec<Written>)> {
    let references = if messages.len() >= CHECKED_FROM {
        References::Checked
    } else {
        References::ForeignKeys
    };
    create_many_script_with(backend, messages, references)
}

/// [`create_many_script`] with the given [`References`] (`benches/batch_write.rs` compares
/// the two).
pub fn create_many_script_with(
    backend: DatabaseBackend,
    messages: &[Planned],
    references: References,
) -> Option<(Script, Vec<Written>)> {
    if chunks(messages, MESSAGE_ROW_BINDS).len() > 1 {
        return None;
    }
    // The checked statements check the room and the sender, not a quoted message: a reply or
    // a forward keeps its foreign keys.
    let quotes = messages
        .iter()
        .any(|p| p.message.parent_message_id.is_some() || p.message.forwarded_from_id.is_some());
    let mut script = match references {
        References::Checked if !quotes => Script::checking_references(backend),
        _ => Script::new(backend),
    };
    let rows = messages.iter().map(|p| (&p.message, p.recipients));
    let written = script_for(&mut script, rows, true);
    Some((script, written))
}

/// The statements that store `messages` (message rows, room rows, notifications, and with
/// `settle` the senders' unread counters), and what they will have stored.
fn script_for<'a>(
    script: &mut Script,
    messages: impl IntoIterator<Item = (&'a NewMessage, usize)>,
    settle: bool,
) -> Vec<Written> {
    let messages: Vec<(&NewMessage, usize)> = messages.into_iter().collect();
    let base = now();
    // Per room, in order: the rooms' counters move by the sums, their `last_message` is the
    // last one, and notifications are numbered in this order after the room's last number.
    let mut rooms: Vec<RoomBump> = Vec::new();
    let mut written = Vec::with_capacity(messages.len());
    let mut notices = Vec::new();
    for (new, recipients) in &messages {
        let room = match rooms.iter().position(|r| r.room_id == new.room_id) {
            Some(i) => &mut rooms[i],
            None => {
                rooms.push(RoomBump::new(new.room_id));
                rooms.last_mut().expect("just pushed")
            }
        };
        // A room's messages of one call must not share a timestamp: history orders by
        // `created_at`, then by (random) id.
        let at = match room.last {
            Some((_, prev)) if prev >= base => prev + chrono::Duration::microseconds(1),
            _ => base,
        };
        let id = Uuid::new_v4();
        room.last = Some((id, at));
        room.posted += 1;
        let notification = match new.notification_type {
            Some(kind) if *recipients > 0 => {
                room.notified += 1;
                let notice = notifications::Numbered {
                    id: Uuid::new_v4(),
                    message_id: id,
                    room_id: new.room_id,
                    kind,
                    actor: new.sender_id,
                    at,
                    owed: i64::try_from(*recipients).unwrap_or(i64::MAX),
                    nth_in_room: room.notified,
                };
                let notice_id = notice.id;
                notices.push(notice);
                Some(notice_id)
            }
            _ => None,
        };
        written.push(Written {
            id,
            created_at: at,
            notification,
        });
    }

    // Checking its references itself, the INSERT takes the room's and the sender's ids from
    // their rows: a missing one is NULL, which the NOT NULL columns refuse.
    let checked = script.checks_references();
    let fused = script.fused();
    // One message binds its values in place: a `VALUES` table is an ephemeral B-tree on
    // SQLite ([`Script::single_row`]).
    let single = script.single_row(messages.len());
    let insert = if checked && single {
        script.statement(
            "INSERT OR FAIL INTO messages (id, room_id, sender_id, content, is_deleted, \
             created_at, updated_at, parent_message_id, is_forwarded, forwarded_from_id, \
             is_edited) VALUES (?, (SELECT id FROM rooms WHERE id = ?), \
             (SELECT id FROM users WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?)",
        )
    } else if checked {
        script.statement(
            "INSERT OR FAIL INTO messages (id, room_id, sender_id, content, is_deleted, \
             created_at, updated_at, parent_message_id, is_forwarded, forwarded_from_id, \
             is_edited) SELECT v.column1, (SELECT id FROM rooms WHERE id = v.column2), \
             (SELECT id FROM users WHERE id = v.column3), v.column4, v.column5, v.column6, \
             v.column7, v.column8, v.column9, v.column10, v.column11 FROM ",
        )
    } else if fused {
        script.statement(
            "INSERT INTO messages (id, room_id, sender_id, content, is_deleted, created_at, \
             updated_at, parent_message_id, is_forwarded, forwarded_from_id, is_edited) \
             SELECT * FROM ",
        )
    } else {
        script.statement(
            "INSERT INTO messages (id, room_id, sender_id, content, is_deleted, created_at, \
             updated_at, parent_message_id, is_forwarded, forwarded_from_id, is_edited) VALUES ",
        )
    };
    let rows = messages.iter().zip(&written).map(|((new, _), w)| {
        [
            w.id.into(),
            new.room_id.into(),
            new.sender_id.into(),
            new.content.as_str().into(),
            false.into(),
            w.created_at.into(),
            w.created_at.into(),
            new.parent_message_id.into(),
            new.is_forwarded.into(),
            new.forwarded_from_id.into(),
            false.into(),
        ]
    });
    if (checked && !single) || fused {
        insert.table(rows, MESSAGE_TYPES);
    } else if checked {
        for row in rows {
            insert.binds(row);
        }
    } else {
        insert.rows(rows);
    }
    // One UPDATE for every room touched; it moves `notification_seq` on before the
    // notifications take their numbers from it.
    let or_fail = script.or_fail();
    if script.single_row(rooms.len()) {
        let room = &rooms[0];
        let (last, at) = room.last.expect("a room is listed with its messages");
        script
            .statement(&format!(
                "UPDATE{or_fail} rooms SET last_message_id = ?, updated_at = ?, \
                 messages_posted = messages_posted + ?, \
                 notification_seq = notification_seq + ? WHERE id = ?"
            ))
            .binds([
                last.into(),
                at.into(),
                room.posted.into(),
                room.notified.into(),
                room.room_id.into(),
            ]);
    } else {
        room_update(script, &rooms, or_fail, fused, !notices.is_empty());
    }
    let rooms_after = script.changed_by_last("rooms");
    let notified: Vec<(Uuid, i64)> = rooms.iter().map(|r| (r.room_id, r.notified)).collect();
    notifications::insert_numbered(script, &notices, &notified, &rooms_after);
    if settle {
        let mut senders: Vec<(Uuid, i64, i64)> = Vec::new();
        for (new, _) in &messages {
            match senders
                .iter_mut()
                .find(|(r, s, _)| *r == new.room_id && *s == new.sender_id)
            {
                Some((_, _, n)) => *n += 1,
                None => senders.push((new.room_id, new.sender_id, 1)),
            }
        }
        unread::count_new_messages(script, &senders);
    }
    written
}

/// The one UPDATE of every room a batch touches, from a table of the rooms' rows.
fn room_update(
    script: &mut Script,
    rooms: &[RoomBump],
    or_fail: &str,
    fused: bool,
    numbering: bool,
) {
    let update = script.statement(&format!(
        "UPDATE{or_fail} rooms SET last_message_id = v.column2, updated_at = v.column3, \
         messages_posted = messages_posted + v.column4, \
         notification_seq = notification_seq + v.column5 FROM "
    ));
    let rows = rooms.iter().map(|r| {
        let (last, at) = r.last.expect("a room is listed with its messages");
        [
            r.room_id.into(),
            last.into(),
            at.into(),
            r.posted.into(),
            r.notified.into(),
        ]
    });
    update
        .table(rows, ["uuid", "uuid", "timestamptz", "int8", "int8"])
        .push(" WHERE rooms.id = v.column1");
    if fused && numbering {
        // The notifications' numbers come from the rooms as this UPDATE leaves them.
        update.push(" RETURNING rooms.id, rooms.notification_seq");
    }
}

/// What a room row takes from a run of messages.
struct RoomBump {
    room_id: Uuid,
    /// The newest message and its time.
    last: Option<(Uuid, DateTime<Utc>)>,
    posted: i64,
    notified: i64,
}

impl RoomBump {
    fn new(room_id: Uuid) -> RoomBump {
        RoomBump {
            room_id,
            last: None,
            posted: 0,
            notified: 0,
        }
    }
}

/// `message.acknowledged`: `user_id` leaves the recipients of every notification of these
/// messages (emptied notifications are deleted) and joins their `delivered_to`. Idempotent.
pub async fn acknowledge(
    txn: &impl Exec,
    user_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    check_references(txn, message_ids, user_id).await?;
    notifications::acknowledge(txn, user_id, message_ids).await?;
    let at = now();
    // Three columns a row.
    for chunk in chunks(message_ids, 3) {
        let insert = message_delivery::Entity::insert_many(chunk.iter().map(|m| {
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
        .into_query();
        txn.exec(txn.build(&insert)).await?;
    }
    Ok(())
}

/// An edit: new content, `is_edited`, `updated_at` now (messages.md §8.4 step 6). Receipts,
/// reactions, deliveries and notifications are left as they are.
pub async fn edit(txn: &impl Exec, message_id: Uuid, content: SafeHtml) -> Result<(), StoreError> {
    let update = message::Entity::update_many()
        .col_expr(message::Column::Content, Expr::value(content.into_string()))
        .col_expr(message::Column::IsEdited, Expr::value(true))
        .col_expr(message::Column::UpdatedAt, Expr::value(now()))
        .filter(message::Column::Id.eq(message_id))
        .into_query();
    txn.exec(txn.build(&update)).await?;
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
pub async fn delete(
    txn: &impl Exec,
    room_id: Uuid,
    message_ids: &[Uuid],
    how: Deletion,
) -> Result<(), StoreError> {
    notifications::delete_for_messages(txn, message_ids).await?;
    unread::forget_deleted(txn, room_id, message_ids).await?;
    match how {
        Deletion::Soft => {
            for chunk in chunks(message_ids, 1) {
                let update = message::Entity::update_many()
                    .col_expr(message::Column::IsDeleted, Expr::value(true))
                    .filter(message::Column::Id.is_in(chunk.iter().copied()))
                    .into_query();
                txn.exec(txn.build(&update)).await?;
            }
        }
        Deletion::Hard => {
            for chunk in chunks(message_ids, 1) {
                let delete = message::Entity::delete_many()
                    .filter(message::Column::Id.is_in(chunk.iter().copied()))
                    .into_query();
                txn.exec(txn.build(&delete)).await?;
            }
            // The foreign key has nulled `last_message_id` if it pointed at one of them.
            let newest = history(room_id, Newest::First).limit(1).into_query();
            let update = room::Entity::update_many()
                .col_expr(room::Column::LastMessageId, newest.into())
                .filter(room::Column::Id.eq(room_id))
                .filter(room::Column::LastMessageId.is_null())
                .into_query();
            txn.exec(txn.build(&update)).await?;
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
pub async fn react(
    txn: &impl Exec,
    message_id: Uuid,
    user_id: i64,
    content: &str,
) -> Result<Reacted, StoreError> {
    // The reaction's rows and the caller's notification of it reference the message.
    check_references(txn, &[message_id], user_id).await?;
    let existing = reaction::Entity::find()
        .select_only()
        .columns([reaction::Column::Id, reaction::Column::ReactionContent])
        .filter(reaction::Column::MessageId.eq(message_id))
        .filter(reaction::Column::UserId.eq(user_id))
        .into_query();
    // At most one: (message_id, user_id) is unique.
    let existing = match txn.rows(txn.build(&existing)).await?.first() {
        Some(row) => Some((row.uuid(0)?, row.text(1)?)),
        None => None,
    };
    let outcome = match existing {
        Some((_, old)) if old == content => return Ok(Reacted::Unchanged),
        Some((id, _)) => {
            let delete = reaction::Entity::delete_many()
                .filter(reaction::Column::Id.eq(id))
                .into_query();
            txn.exec(txn.build(&delete)).await?;
            Reacted::Replaced
        }
        None => Reacted::Added,
    };
    let insert = reaction::Entity::insert(reaction::ActiveModel {
        id: Set(Uuid::new_v4()),
        message_id: Set(message_id),
        user_id: Set(user_id),
        reaction_content: Set(content.to_string()),
        created_at: Set(now()),
    })
    .into_query();
    txn.exec(txn.build(&insert)).await?;
    Ok(outcome)
}

/// Removes the user's reaction to a message, whatever it is; whether there was one.
pub async fn unreact(txn: &impl Exec, message_id: Uuid, user_id: i64) -> Result<bool, StoreError> {
    let delete = reaction::Entity::delete_many()
        .filter(reaction::Column::MessageId.eq(message_id))
        .filter(reaction::Column::UserId.eq(user_id))
        .into_query();
    Ok(txn.exec(txn.build(&delete)).await? > 0)
}

/// One read receipt per message, all or none: a message the user has already read refuses
/// the whole batch with the unique constraint (4005, as the reference). The reader's unread
/// counters drop by the messages that were counted for them.
pub async fn mark_read(
    txn: &impl Exec,
    reader_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    check_references(txn, message_ids, reader_id).await?;
    unread::forget_read(txn, reader_id, message_ids).await?;
    let at = now();
    // Four columns a row.
    for chunk in chunks(message_ids, 4) {
        let insert =
            read_receipt::Entity::insert_many(chunk.iter().map(|m| read_receipt::ActiveModel {
                id: Set(Uuid::new_v4()),
                message_id: Set(*m),
                reader_id: Set(reader_id),
                read_at: Set(at),
            }))
            .into_query();
        txn.exec(txn.build(&insert)).await?;
    }
    Ok(())
}

/// Whether every one of `ids` (distinct) names a message that exists and is not soft-deleted.
pub async fn all_live(txn: &impl Exec, ids: &[Uuid]) -> Result<bool, StoreError> {
    let mut live = 0;
    for chunk in chunks(ids, 1) {
        let count = by_ids(&LIVE_COUNT, txn.backend(), chunk, live_count_query);
        if let Some(row) = txn.rows(count).await?.first() {
            live += row.int(0)?;
        }
    }
    Ok(usize::try_from(live).is_ok_and(|live| live == ids.len()))
}

/// The texts of [`live_count_query`]: every change but an acknowledgement runs it.
static LIVE_COUNT: Templates = Templates::new();

/// The texts of [`find_query`]: the gate of every message event runs it.
static FIND: Templates = Templates::new();

/// How many of the messages `ids` exist and are not soft-deleted.
fn live_count_query(ids: &[Uuid]) -> SelectStatement {
    use sea_orm::sea_query::ExprTrait;
    Query::select()
        .expr(Expr::col(message::Column::Id).count())
        .from(message::Entity)
        .and_where(message::Column::Id.is_in(ids.iter().copied()))
        .and_where(message::Column::IsDeleted.eq(false))
        .to_owned()
}

/// The messages `ids`, every column.
fn find_query(ids: &[Uuid]) -> SelectStatement {
    message::Entity::find()
        .filter(message::Column::Id.is_in(ids.iter().copied()))
        .into_query()
}

/// `query` of `ids` from a text built once per backend and number of ids (only the ids are
/// bound): sea-query building it cost about as much as SQLite running it.
fn by_ids(
    templates: &Templates,
    backend: DatabaseBackend,
    ids: &[Uuid],
    query: fn(&[Uuid]) -> SelectStatement,
) -> Statement {
    templates.for_ids(backend, ids, None, |ids, _| backend.build(&query(ids)))
}

/// In a transaction that checks its references ([`Exec::checks_references`]): the messages
/// `ids` and the user `user_id`, which the rows it is about to write reference, exist; one
/// missing answers as the foreign key would have ([`StoreError::MissingReference`], 4004).
/// The writer's connection holds SQLite's write lock from `BEGIN IMMEDIATE` to `COMMIT`, so
/// nothing removes them before the rows are written. With foreign keys on they are the
/// schema's to check, and nothing runs. A soft-deleted message exists (as for the key).
pub async fn check_references(
    txn: &impl Exec,
    ids: &[Uuid],
    user_id: i64,
) -> Result<(), StoreError> {
    if !txn.checks_references() {
        return Ok(());
    }
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // One id is bound per message, and the user once.
    for chunk in chunks(&distinct, 1) {
        let rows = txn
            .rows(references_statement(txn.backend(), chunk, user_id))
            .await?;
        let found = match rows.first() {
            Some(row) => (row.int(0)?, row.int(1)?),
            None => (0, 0),
        };
        if found != (i64::try_from(chunk.len()).unwrap_or(i64::MAX), 1) {
            return Err(StoreError::MissingReference(DbErr::Custom(format!(
                "{} of {} messages and {} of user {user_id} exist",
                found.0,
                chunk.len(),
                found.1
            ))));
        }
    }
    Ok(())
}

/// [`references_query`] from a text built once per backend and number of ids.
fn references_statement(backend: DatabaseBackend, ids: &[Uuid], user_id: i64) -> Statement {
    static REFERENCES: Templates = Templates::new();
    REFERENCES.for_ids(backend, ids, Some(user_id), |ids, user_id| {
        backend.build(&references_query(ids, user_id))
    })
}

/// How many of the messages `ids` exist, and whether the user does: one row, two counts.
fn references_query(ids: &[Uuid], user_id: i64) -> SelectStatement {
    use sea_orm::sea_query::ExprTrait;
    let messages = Query::select()
        .expr(Expr::col(message::Column::Id).count())
        .from(message::Entity)
        .and_where(message::Column::Id.is_in(ids.iter().copied()))
        .to_owned();
    let users = Query::select()
        .expr(Expr::col(user::Column::Id).count())
        .from(user::Entity)
        .and_where(user::Column::Id.eq(user_id))
        .to_owned();
    Query::select()
        .expr(Expr::from(messages))
        .expr(Expr::from(users))
        .to_owned()
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
/// `offset`, rendered in that order, and whether more follow. Three queries whatever the
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

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(room_id: Uuid, sender_id: i64) -> Planned {
        Planned {
            message: NewMessage {
                room_id,
                sender_id,
                content: SafeHtml::literal("hi"),
                parent_message_id: None,
                forwarded_from_id: None,
                is_forwarded: false,
                media: Vec::new(),
                notification_type: Some(NotificationKind::NewMessage),
            },
            recipients: 2,
        }
    }

    /// On SQLite a statement of one row reads no `VALUES` table (an ephemeral B-tree there)
    /// and binds exactly the placeholders its text holds; two messages of two rooms and
    /// PostgreSQL keep their tables.
    #[test]
    fn a_batch_statement_of_one_row_binds_its_values_in_place_on_sqlite() {
        let (room, other) = (Uuid::new_v4(), Uuid::new_v4());
        let one = [planned(room, 1)];
        let two = [planned(room, 1), planned(other, 2)];
        for (backend, messages, tables) in [
            (DatabaseBackend::Sqlite, &one[..], 0),
            (DatabaseBackend::Sqlite, &two[..], 4),
            (DatabaseBackend::Postgres, &one[..], 4),
        ] {
            let (script, written) =
                create_many_script_with(backend, messages, References::Checked).expect("fits");
            assert_eq!(written.len(), messages.len());
            let shapes = script.shapes();
            assert_eq!(shapes.len(), 4, "{shapes:?}");
            let read_from_tables = shapes
                .iter()
                .filter(|(text, _)| text.contains("AS v"))
                .count();
            assert_eq!(read_from_tables, tables, "{backend:?}: {shapes:?}");
            if backend == DatabaseBackend::Sqlite {
                for (text, values) in shapes {
                    assert_eq!(text.matches('?').count(), values, "{text}");
                }
            }
        }
    }

    /// The texts built once with the ids bound are exactly the statements sea-query builds.
    #[test]
    fn texts_by_ids_are_the_built_statements() {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            for n in [1, 3, 1] {
                let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
                for (templates, query) in [
                    (
                        &LIVE_COUNT,
                        live_count_query as fn(&[Uuid]) -> SelectStatement,
                    ),
                    (&FIND, find_query),
                ] {
                    let built = backend.build(&query(&ids));
                    let cached = by_ids(templates, backend, &ids, query);
                    assert_eq!(cached.sql, built.sql);
                    assert_eq!(cached.values, built.values);
                }
            }
        }
    }

    /// The text built once with the arguments bound is exactly the statement sea-query builds.
    #[test]
    fn references_template_is_the_built_statement() {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            for n in [1, 3, 1] {
                let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
                let built = backend.build(&references_query(&ids, 42));
                let cached = references_statement(backend, &ids, 42);
                assert_eq!(cached.sql, built.sql);
                assert_eq!(cached.values, built.values);
            }
        }
    }
}
