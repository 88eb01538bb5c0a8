//! Pending notifications: the only code that writes, reads or deletes notification rows.
//! They are written in the transaction of the event they are about (a send, a reaction) and
//! settled in the transaction of the event that settles them (an acknowledgement, a delete, a
//! leave), so what a user is owed is exactly what has committed. The `NotificationActor`
//! (`crate::notifications`) drives what happens around them: the bounded replay at connect,
//! the push to offline recipients after the commit.
//!
//! **Recipients are implied by membership** (docs/architecture.md, "Notifications"), so a
//! notification costs one row whatever the room's size. Each notification carries its place
//! in the room's sequence (`seq`, from `rooms.notification_seq`) and its actor; each
//! membership the sequence number it began after (`room_members.notified_after`). A user is
//! owed a notification when they are a member of its room whose membership began before it,
//! are not its actor, and have no release row for it (written when they acknowledge
//! its message, or as they leave the room). Leaving drops the membership, and with it
//! everything it was owed (DECISIONS 26); joining later owes nothing earlier. `owed` counts
//! the recipients still owed; the row goes when it reaches zero, as it went with its last
//! recipient row before.
//!
//! Every list that grows with input or backlog is bound in [`super::chunks`]; the replay
//! binds the user and its bounds, whatever the backlog.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{notification, notification_release, room, room_member};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, JoinType, LockType, OnConflict, Order, Query,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryTrait, Value,
};
use uuid::Uuid;

use super::exec::Exec;
use super::script::Script;
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

/// Records that the members of `room_id` other than `actor` — `recipients`, the room's
/// members now — are owed a notification of `kind` about `message_id`; returns its id. Nobody
/// to tell, no row (a notification without recipients is never seen, §14.2). Two statements
/// whatever the number of recipients: the room's sequence moves on, and the row takes its
/// number.
pub async fn create(
    txn: &impl Exec,
    room_id: Uuid,
    message_id: Uuid,
    kind: NotificationKind,
    actor: i64,
    recipients: &[i64],
    at: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    if recipients.is_empty() {
        return Ok(None);
    }
    let bump = room::Entity::update_many()
        .col_expr(
            room::Column::NotificationSeq,
            Expr::col(room::Column::NotificationSeq).add(1),
        )
        .filter(room::Column::Id.eq(room_id))
        .into_query();
    txn.exec(txn.build(&bump)).await?;
    let id = Uuid::new_v4();
    let owed = i64::try_from(recipients.len()).unwrap_or(i64::MAX);
    let numbered = Query::select()
        .expr(Expr::val(id))
        .expr(Expr::val(message_id))
        .expr(Expr::val(room_id))
        .expr(Expr::val(kind.as_str()))
        .expr(Expr::val(at))
        .expr(Expr::val(actor))
        .column(room::Column::NotificationSeq)
        .expr(Expr::val(owed))
        .from(room::Entity)
        .and_where(room::Column::Id.eq(room_id))
        .to_owned();
    let insert = Query::insert()
        .into_table(notification::Entity)
        .columns([
            notification::Column::Id,
            notification::Column::MessageId,
            notification::Column::RoomId,
            notification::Column::NotificationType,
            notification::Column::CreatedAt,
            notification::Column::ActorId,
            notification::Column::Seq,
            notification::Column::Owed,
        ])
        .select_from(numbered)
        .map_err(|e| StoreError::Db(DbErr::Custom(format!("notification insert: {e}"))))?
        .to_owned();
    txn.exec(txn.build(&insert)).await?;
    Ok(Some(id))
}

/// A notification of a new message, for [`insert_numbered`].
#[derive(Debug, Clone)]
pub struct Numbered {
    pub id: Uuid,
    pub message_id: Uuid,
    pub room_id: Uuid,
    pub kind: NotificationKind,
    pub actor: i64,
    pub at: DateTime<Utc>,
    /// How many recipients are owed it.
    pub owed: i64,
    /// 1 for the first notification of its room in this script, 2 for the next, …
    pub nth_in_room: i64,
}

/// Adds to `script` the INSERT of `notices`, numbered after the statement before it has
/// moved each room's `notification_seq` on by its count in `per_room` (room, count): the
/// n-th of m notifications of a room takes `notification_seq - (m - n)`, so they keep their
/// order and follow the room's earlier ones. One statement whatever the number of rooms.
/// `rooms` is where it reads the moved `notification_seq` (`rooms`, or what
/// [`Script::changed_by_last`] names in a fused script).
pub(super) fn insert_numbered(
    script: &mut Script,
    notices: &[Numbered],
    per_room: &[(Uuid, i64)],
    rooms: &str,
) {
    if notices.is_empty() {
        return;
    }
    let or_fail = script.or_fail();
    let row = |n: &Numbered| -> [Value; 8] {
        let in_room = per_room
            .iter()
            .find(|(room, _)| *room == n.room_id)
            .map_or(n.nth_in_room, |(_, count)| *count);
        [
            n.id.into(),
            n.message_id.into(),
            n.room_id.into(),
            n.kind.as_str().into(),
            n.at.into(),
            n.actor.into(),
            (in_room - n.nth_in_room).into(),
            n.owed.into(),
        ]
    };
    if let ([n], true) = (notices, script.single_row(notices.len())) {
        script
            .statement(&format!(
                "INSERT{or_fail} INTO notifications (id, message_id, room_id, \
                 notification_type, created_at, actor_id, seq, owed) SELECT ?, ?, ?, ?, ?, ?, \
                 rooms.notification_seq - ?, ? FROM {rooms} WHERE rooms.id = ?"
            ))
            .binds(row(n))
            .binds([n.room_id.into()]);
        return;
    }
    let insert = script.statement(&format!(
        "INSERT{or_fail} INTO notifications (id, message_id, room_id, notification_type, \
         created_at, actor_id, seq, owed) SELECT v.column1, v.column2, v.column3, v.column4, \
         v.column5, v.column6, rooms.notification_seq - v.column7, v.column8 FROM "
    ));
    let rows = notices.iter().map(row);
    let types = [
        "uuid",
        "uuid",
        "uuid",
        "text",
        "timestamptz",
        "int8",
        "int8",
        "int8",
    ];
    insert
        .table(rows, types)
        .push(", ")
        .push(rooms)
        .push(" WHERE rooms.id = v.column3");
}

/// Deletes every notification about these messages, whoever is still owed it (a deleted
/// message, soft or hard, is nobody's news any more: §14.3).
pub async fn delete_for_messages(txn: &impl Exec, message_ids: &[Uuid]) -> Result<(), StoreError> {
    for chunk in chunks(message_ids, 1) {
        let delete = notification::Entity::delete_many()
            .filter(notification::Column::MessageId.is_in(chunk.iter().copied()))
            .into_query();
        txn.exec(txn.build(&delete)).await?;
    }
    Ok(())
}

/// The membership row `rm` is owed the notification of the enclosing statement (a statement
/// on `notifications`): a member of its room since before it, not its actor, not released.
/// The actor is compared as an expression (`actor_id + 0`), which no column statistics
/// estimate: PostgreSQL, finding a single sender in a room's statistics, would otherwise expect
/// almost nothing owed and sort the room's whole backlog for the replay rather than walk it.
fn owed_to_member(rm: &Alias) -> Condition {
    let n = |c: notification::Column| Expr::col((notification::Entity, c));
    let member = |c: room_member::Column| Expr::col((rm.clone(), c));
    let x = Alias::new("x");
    let released = Query::select()
        .expr(Expr::val(1))
        .from_as(notification_release::Entity, x.clone())
        .and_where(
            Expr::col((x.clone(), notification_release::Column::NotificationId))
                .equals((notification::Entity, notification::Column::Id)),
        )
        .and_where(
            Expr::col((x, notification_release::Column::UserId))
                .equals((rm.clone(), room_member::Column::UserId)),
        )
        .to_owned();
    Condition::all()
        .add(
            member(room_member::Column::RoomId)
                .equals((notification::Entity, notification::Column::RoomId)),
        )
        .add(member(room_member::Column::NotifiedAfter).lt(n(notification::Column::Seq)))
        .add(
            Condition::any()
                .add(n(notification::Column::ActorId).is_null())
                .add(
                    n(notification::Column::ActorId)
                        .add(0)
                        .ne(member(room_member::Column::UserId)),
                ),
        )
        .add(Expr::exists(released).not())
}

/// The members (`rm`) that `whose` selects let go of the notifications (of the statement on
/// `notifications`) that `among` selects and they are owed: a release row each, `owed` down by
/// as many, and the notifications nobody is owed any more deleted.
///
/// The release rows are the arbiter when two transactions release the same (notification,
/// user) at once — an acknowledgement from each of two devices, or one racing a leave: the
/// unique index admits one row, `ON CONFLICT DO NOTHING` returns only the rows this
/// transaction inserted, and only those count down, so `owed` never drops twice for one
/// user. A leave's release rows stay behind (harmless: a re-join's membership begins after
/// them) and go with their notification.
async fn release(txn: &impl Exec, whose: Condition, among: Condition) -> Result<(), StoreError> {
    let rm = Alias::new("rm");
    let owed = Query::select()
        .column((notification::Entity, notification::Column::Id))
        .column((rm.clone(), room_member::Column::UserId))
        .from(notification::Entity)
        .join_as(
            JoinType::InnerJoin,
            room_member::Entity,
            rm.clone(),
            Expr::col((rm.clone(), room_member::Column::RoomId))
                .equals((notification::Entity, notification::Column::RoomId)),
        )
        .cond_where(among)
        .cond_where(whose)
        .cond_where(owed_to_member(&rm))
        .to_owned();
    // Each row references the notification and the membership's user it was read from: with
    // foreign keys off (a change on the writer's connection) it needs no check of its own.
    let insert = Query::insert()
        .into_table(notification_release::Entity)
        .columns([
            notification_release::Column::NotificationId,
            notification_release::Column::UserId,
        ])
        .select_from(owed)
        .map_err(|e| StoreError::Db(DbErr::Custom(format!("release insert: {e}"))))?
        .on_conflict(
            OnConflict::columns([
                notification_release::Column::NotificationId,
                notification_release::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .returning_col(notification_release::Column::NotificationId)
        .to_owned();
    let mut released: HashMap<Uuid, i64> = HashMap::new();
    for row in txn.rows(txn.build(&insert)).await? {
        *released.entry(row.uuid(0)?).or_default() += 1;
    }
    // Usually one user each; a removal of several members may release one notification
    // several times.
    let mut by_count: HashMap<i64, Vec<Uuid>> = HashMap::new();
    for (id, count) in released {
        by_count.entry(count).or_default().push(id);
    }
    if txn.backend() == DatabaseBackend::Postgres {
        // Two releases of the same notifications (two members acknowledging the same
        // messages at once) settle the same rows: each first locks them in id order, so
        // neither holds one the other has to wait for. Left to the UPDATEs, the rows are
        // locked in whatever order each plan meets them, and PostgreSQL ends one of the two
        // with a deadlock (docs/performance.md, "What a reaction, a read receipt and an
        // acknowledgement cost"). The lock is the UPDATE's own (`NO KEY UPDATE`): the
        // release rows just inserted hold `KEY SHARE` on the same rows, which a `FOR UPDATE`
        // would wait for. SQLite runs one writing transaction at a time.
        let mut ids: Vec<Uuid> = by_count.values().flatten().copied().collect();
        ids.sort_unstable();
        for chunk in chunks(&ids, 1) {
            let lock = Query::select()
                .column(notification::Column::Id)
                .from(notification::Entity)
                .and_where(notification::Column::Id.is_in(chunk.iter().copied()))
                .order_by(notification::Column::Id, Order::Asc)
                .lock(LockType::NoKeyUpdate)
                .to_owned();
            txn.rows(txn.build(&lock)).await?;
        }
    }
    let mut nobody_owed = Vec::new();
    for (count, ids) in by_count {
        for chunk in chunks(&ids, 1) {
            let settle = Query::update()
                .table(notification::Entity)
                .value(
                    notification::Column::Owed,
                    Expr::col(notification::Column::Owed).sub(count),
                )
                .and_where(notification::Column::Id.is_in(chunk.iter().copied()))
                .returning(
                    Query::returning()
                        .columns([notification::Column::Id, notification::Column::Owed]),
                )
                .to_owned();
            // RETURNING id, owed.
            for row in txn.rows(txn.build(&settle)).await? {
                if row.int(1)? <= 0 {
                    nobody_owed.push(row.uuid(0)?);
                }
            }
        }
    }
    for chunk in chunks(&nobody_owed, 1) {
        if txn.checks_references() {
            // With foreign keys off nothing cascades: the notifications' release rows go
            // first, as the key's `ON DELETE CASCADE` would take them.
            let releases = notification_release::Entity::delete_many()
                .filter(notification_release::Column::NotificationId.is_in(chunk.iter().copied()))
                .into_query();
            txn.exec(txn.build(&releases)).await?;
        }
        let delete = notification::Entity::delete_many()
            .filter(notification::Column::Id.is_in(chunk.iter().copied()))
            .into_query();
        txn.exec(txn.build(&delete)).await?;
    }
    Ok(())
}

/// `rm.user_id` is one of `users`.
fn member_among(users: &[i64]) -> Condition {
    Condition::all().add(
        Expr::col((Alias::new("rm"), room_member::Column::UserId)).is_in(users.iter().copied()),
    )
}

/// `message.acknowledged`: `user_id` is no longer owed any notification of these messages
/// (all three kinds, §14.3); notifications nobody is owed any more are deleted. A
/// notification written later (a new reaction) is owed again.
pub async fn acknowledge(
    txn: &impl Exec,
    user_id: i64,
    message_ids: &[Uuid],
) -> Result<(), StoreError> {
    for chunk in chunks(message_ids, 1) {
        let of_these =
            Condition::all().add(notification::Column::MessageId.is_in(chunk.iter().copied()));
        release(txn, member_among(&[user_id]), of_these).await?;
    }
    Ok(())
}

/// `users` are no longer owed any notification about messages of `room_id`: they are about
/// to leave or be removed (DECISIONS 26). Run it before the memberships go, while it can
/// still tell what they were owed.
pub async fn drop_for_room<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
) -> Result<(), StoreError> {
    for chunk in chunks(users, 1) {
        let of_room = Condition::all().add(notification::Column::RoomId.eq(room_id));
        release(txn, member_among(chunk), of_room).await?;
    }
    Ok(())
}

/// `user_id` is about to be deleted (`chatd users delete`): they stop being owed anything,
/// in every room. Their memberships and release rows then go by the cascade.
pub async fn drop_for_user<C: ConnectionTrait>(txn: &C, user_id: i64) -> Result<(), StoreError> {
    release(txn, member_among(&[user_id]), Condition::all()).await
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
/// most `limit` in all, newest first (ties by id). One statement binding the user and the
/// bounds, whatever the backlog: for each of the user's memberships it walks the room's
/// notifications newest first (index `(room_id, created_at, id)`) and stops at the `per_room`-th
/// it is owed, so the database reads no more of a room than the replay can use — besides the
/// newer ones the user is not owed (their own, those they let go of), which it steps over.
/// PostgreSQL takes each room's through a `LATERAL` subquery; SQLite, which has none, through
/// a correlated `IN` list looked up by primary key.
pub async fn newest_pending<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    per_room: u64,
    limit: u64,
) -> Result<Vec<Pending>, StoreError> {
    let n = notification::Entity;
    let rm = Alias::new("rm");
    let newest = Alias::new("newest");
    let columns = [
        notification::Column::Id,
        notification::Column::MessageId,
        notification::Column::NotificationType,
        notification::Column::CreatedAt,
        notification::Column::RoomId,
    ];
    // The room of `rm`: its newest notifications the member is owed, newest first.
    let mut in_room = Query::select();
    in_room
        .from(n)
        .cond_where(owed_to_member(&rm))
        .order_by((n, notification::Column::CreatedAt), Order::Desc)
        .order_by((n, notification::Column::Id), Order::Desc)
        .limit(per_room);
    let backend = db.get_database_backend();
    let mut query = Query::select();
    query
        .columns(columns.map(|c| (newest.clone(), c)))
        .expr_as(
            Expr::col((room::Entity, room::Column::CreatedAt)),
            Alias::new("room_created_at"),
        )
        .from_as(room_member::Entity, rm.clone())
        .inner_join(
            room::Entity,
            Expr::col((room::Entity, room::Column::Id))
                .equals((rm.clone(), room_member::Column::RoomId)),
        );
    if backend == DatabaseBackend::Postgres {
        in_room.columns(columns.map(|c| (n, c)));
        query.join_lateral(
            JoinType::InnerJoin,
            in_room.to_owned(),
            newest.clone(),
            Condition::all(),
        );
    } else {
        in_room.column((n, notification::Column::Id));
        query.join_as(
            JoinType::InnerJoin,
            n,
            newest.clone(),
            Expr::col((newest.clone(), notification::Column::Id)).in_subquery(in_room.to_owned()),
        );
    }
    query
        .and_where(Expr::col((rm, room_member::Column::UserId)).eq(user_id))
        .order_by(
            (newest.clone(), notification::Column::CreatedAt),
            Order::Desc,
        )
        .order_by((newest, notification::Column::Id), Order::Desc)
        .limit(limit);
    let statement = backend.build(&query);
    Ok(Pending::find_by_statement(statement).all(db).await?)
}
