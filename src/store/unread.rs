//! Unread counts: the `unread_count` of `room.list` and `room.info` entries
//! (docs/protocol-notes.md, "Unread counts").
//!
//! A message counts as unread for a member when it is by someone else, not deleted (soft or
//! hard), sent since the member joined (`room_members.created_at`: a re-join starts a new
//! membership at 0), and the member has no read receipt for it. The count is a difference of
//! two counters, so that a send writes the same rows whatever the room's size:
//! `rooms.messages_posted` (every message sent to the room, bumped by
//! `store::messages::create`) minus `room_members.settled` (those of them that do not count
//! for the member). Every event that changes the count updates the counters in its own
//! transaction, so the difference is exactly the definition at every commit:
//!
//! | event | statement |
//! | --- | --- |
//! | join | `store::rooms::admit`: `settled` starts at the room's `messages_posted` |
//! | `message.send` | `messages_posted` + 1 (with `last_message`); [`count_new_message`] (or [`count_new_messages`] for a batch's plain sends): the sender's `settled` + 1 |
//! | `message.read` (single, bulk) | [`forget_read`] before the receipts: the reader's counted messages among those read |
//! | `message.modify` delete (soft, hard) | [`forget_deleted`] before the delete: each member's counted messages among those deleted |
//! | `chatd users delete` | [`forget_sender`] before the cascade: every member's counted messages of that user |
//! | leave / removal | the membership row goes, with its counter |
//!
//! "Since the member joined" compares timestamps: a room's actor runs its changes one at a
//! time, so a join and a message of the same room are never stamped in one commit, and (with
//! a clock that does not step back) a message committed before a join is stamped before it.

use entity::{message, read_receipt, room, room_member};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, Query, SelectStatement, UpdateStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, Statement,
};

use super::exec::Exec;
use super::template::Templates;
use uuid::Uuid;

use super::script::Script;
use super::StoreError;

/// A new message of `sender_id` in `room_id`, already counted in the room's
/// `messages_posted` by `store::messages::create`: one more unread message for every other
/// member, none for the sender. One single-row UPDATE whatever the room's size.
pub async fn count_new_message<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    sender_id: i64,
) -> Result<(), StoreError> {
    room_member::Entity::update_many()
        .col_expr(
            room_member::Column::Settled,
            Expr::col(room_member::Column::Settled).add(1),
        )
        .filter(room_member::Column::RoomId.eq(room_id))
        .filter(room_member::Column::UserId.eq(sender_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// [`count_new_message`] for several: adds to `script` one UPDATE that settles, for each
/// (room, sender, n), the sender's n new messages in the room.
pub(super) fn count_new_messages(script: &mut Script, senders: &[(Uuid, i64, i64)]) {
    if senders.is_empty() {
        return;
    }
    let or_fail = script.or_fail();
    if let ([(room, sender, n)], true) = (senders, script.single_row(senders.len())) {
        script
            .statement(&format!(
                "UPDATE{or_fail} room_members SET settled = settled + ? \
                 WHERE room_members.room_id = ? AND room_members.user_id = ?"
            ))
            .binds([(*n).into(), (*room).into(), (*sender).into()]);
        return;
    }
    let update = script.statement(&format!(
        "UPDATE{or_fail} room_members SET settled = settled + v.column3 FROM "
    ));
    let rows = senders
        .iter()
        .map(|(room, sender, n)| [(*room).into(), (*sender).into(), (*n).into()]);
    update
        .table(rows, ["uuid", "int8", "int8"])
        .push(" WHERE room_members.room_id = v.column1 AND room_members.user_id = v.column2");
}

/// `messages` (a query of message ids) stop counting for the members `whose` selects: they are
/// about to be read by them, or deleted. Run it before the receipts are written or the rows
/// deleted, while the definition can still tell which of them were counted.
pub async fn forget(
    txn: &impl Exec,
    messages: SelectStatement,
    whose: Condition,
) -> Result<(), StoreError> {
    txn.exec(txn.build(&forget_update(messages, whose))).await?;
    Ok(())
}

/// The statement of [`forget`].
fn forget_update(messages: SelectStatement, whose: Condition) -> UpdateStatement {
    let m = Alias::new("m");
    let member = |c: room_member::Column| Expr::col((room_member::Entity, c));
    let unread_by_member = Query::select()
        .column((read_receipt::Entity, read_receipt::Column::Id))
        .from(read_receipt::Entity)
        .and_where(
            Expr::col((read_receipt::Entity, read_receipt::Column::MessageId))
                .equals((m.clone(), message::Column::Id)),
        )
        .and_where(
            Expr::col((read_receipt::Entity, read_receipt::Column::ReaderId))
                .eq(member(room_member::Column::UserId)),
        )
        .to_owned();
    let counted = Query::select()
        .expr(Expr::col((m.clone(), message::Column::Id)).count())
        .from_as(message::Entity, m.clone())
        .and_where(Expr::col((m.clone(), message::Column::Id)).in_subquery(messages))
        .and_where(
            Expr::col((m.clone(), message::Column::RoomId)).eq(member(room_member::Column::RoomId)),
        )
        .and_where(
            Expr::col((m.clone(), message::Column::SenderId))
                .ne(member(room_member::Column::UserId)),
        )
        .and_where(Expr::col((m.clone(), message::Column::IsDeleted)).eq(false))
        .and_where(
            Expr::col((m.clone(), message::Column::CreatedAt))
                .gte(member(room_member::Column::CreatedAt)),
        )
        .and_where(Expr::exists(unread_by_member).not())
        .to_owned();
    room_member::Entity::update_many()
        .col_expr(
            room_member::Column::Settled,
            Expr::col(room_member::Column::Settled).add(Expr::from(counted)),
        )
        .filter(whose)
        .into_query()
}

/// `column` of the messages `ids` (one [`super::chunks`] run).
fn of_messages(column: message::Column, ids: &[Uuid]) -> SelectStatement {
    Query::select()
        .column(column)
        .from(message::Entity)
        .and_where(message::Column::Id.is_in(ids.iter().copied()))
        .to_owned()
}

/// `reader_id` is about to read `message_ids` (live messages by others): they stop counting
/// for the reader, in every room they are in.
pub async fn forget_read(
    txn: &impl Exec,
    reader_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    // Each id is bound twice: the messages, and the rooms whose membership row changes (the
    // reader's other rooms are not written).
    for chunk in super::chunks(message_ids, 2) {
        txn.exec(forget_read_statement(txn.backend(), reader_id, chunk))
            .await?;
    }
    Ok(())
}

/// [`forget_read_update`] from a text built once per backend and number of ids: every read
/// receipt runs it, and sea-query building it cost a read more instructions than the rest
/// of the receipt's statements.
fn forget_read_statement(backend: DatabaseBackend, reader_id: i64, ids: &[Uuid]) -> Statement {
    static FORGET_READ: Templates = Templates::new();
    FORGET_READ.for_ids(backend, ids, Some(reader_id), |ids, reader_id| {
        backend.build(&forget_read_update(reader_id, ids))
    })
}

/// The statement of [`forget_read`] for one chunk.
fn forget_read_update(reader_id: i64, ids: &[Uuid]) -> UpdateStatement {
    let whose = Condition::all()
        .add(room_member::Column::UserId.eq(reader_id))
        .add(room_member::Column::RoomId.in_subquery(of_messages(message::Column::RoomId, ids)));
    forget_update(of_messages(message::Column::Id, ids), whose)
}

/// `message_ids` of `room_id` are about to be deleted: they stop counting for every member.
pub async fn forget_deleted(
    txn: &impl Exec,
    room_id: Uuid,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    for chunk in super::chunks(message_ids, 1) {
        let whose = Condition::all().add(room_member::Column::RoomId.eq(room_id));
        forget(txn, of_messages(message::Column::Id, chunk), whose).await?;
    }
    Ok(())
}

/// `user_id` is about to be deleted with their messages: those stop counting for every member
/// of the rooms they were sent to.
pub async fn forget_sender<C: ConnectionTrait>(txn: &C, user_id: i64) -> Result<(), StoreError> {
    let theirs = Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::SenderId.eq(user_id))
        .to_owned();
    let their_rooms = Query::select()
        .column(message::Column::RoomId)
        .from(message::Entity)
        .and_where(message::Column::SenderId.eq(user_id))
        .to_owned();
    let whose = Condition::all().add(room_member::Column::RoomId.in_subquery(their_rooms));
    forget(txn, theirs, whose).await
}

/// `user_id`'s unread count in `room_id`; `None` when they are no member.
pub async fn of_member<C: ConnectionTrait>(
    db: &C,
    room_id: Uuid,
    user_id: i64,
) -> Result<Option<i64>, StoreError> {
    let posted = Query::select()
        .column(room::Column::MessagesPosted)
        .from(room::Entity)
        .and_where(room::Column::Id.eq(room_id))
        .to_owned();
    Ok(room_member::Entity::find()
        .select_only()
        .expr(Expr::from(posted).sub(Expr::col(room_member::Column::Settled)))
        .filter(room_member::Column::RoomId.eq(room_id))
        .filter(room_member::Column::UserId.eq(user_id))
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// The unread count of a member whose room has `messages_posted` and who has `settled`.
pub fn unread(messages_posted: i64, settled: i64) -> i64 {
    messages_posted - settled
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text built once with the arguments bound is exactly the statement sea-query builds.
    #[test]
    fn forget_read_template_is_the_built_statement() {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            for n in [1, 2, 7, 1] {
                let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
                let built = backend.build(&forget_read_update(42, &ids));
                let cached = forget_read_statement(backend, 42, &ids);
                assert_eq!(cached.sql, built.sql);
                assert_eq!(cached.values, built.values);
            }
        }
    }
}
