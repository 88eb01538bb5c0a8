//! A message's writes stop growing with its room. Until this step a notification stored one
//! recipient row per other member, and a send bumped `unread_count` on every other
//! membership; in a channel of 300 those rows were most of a send's cost.
//!
//! From this step on, a notification's recipients are implied by membership:
//! - `rooms.notification_seq` numbers the room's notifications (1, 2, …); each notification
//!   carries its `seq`, its `actor_id` (the sender or reactor, who is not told) and `owed`,
//!   how many recipients have not yet let go of it;
//! - `room_members.notified_after` is the room's `notification_seq` when the membership
//!   began: a member is owed the room's notifications with a greater `seq`, except those
//!   they acted on themselves and those in `notification_releases` (a row per
//!   acknowledgement, written when it happens); a leave drops the membership and with it
//!   everything it was owed;
//! - `rooms.messages_posted` counts the room's messages and `room_members.settled` what of
//!   them does not count as unread for the member (sent before they joined, their own,
//!   read, deleted): `unread_count` = `messages_posted - settled`.
//!
//! Existing data keeps its meaning: every pending recipient is still owed its notification
//! (recipients who are no longer members of the room are not: DECISIONS 26 drops those), and
//! every member's unread count is unchanged.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261126_000007_create_notifications as before;
use crate::util::{
    add_column, col, counter, create_indexes, drop_column, index, owned_by, serial_id, table_with,
    uuid_id,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_NOTIFICATIONS: &str = "notifications_before_000013";
const OLD_RECIPIENTS: &str = "notification_recipients_before_000013";
const NEW_NOTIFICATIONS: &str = "notifications_after_000013";
const NEW_RELEASES: &str = "notification_releases_after_000013";

/// (table, column) counters this step adds, all `BIGINT NOT NULL DEFAULT 0`.
const COUNTERS: [(&str, &str); 4] = [
    ("rooms", "notification_seq"),
    ("rooms", "messages_posted"),
    ("room_members", "notified_after"),
    ("room_members", "settled"),
];

fn notifications_table() -> TableCreateStatement {
    let mut columns = before::kind_and_time();
    columns.extend([
        // No foreign key: a REACTION notification outlives its reactor's deletion.
        col("actor_id").big_integer().null().to_owned(),
        col("seq").big_integer().not_null().to_owned(),
        col("owed").big_integer().not_null().to_owned(),
    ]);
    let mut notifications = table_with(
        "notifications",
        uuid_id(),
        vec![
            owned_by("notifications", "message_id", "messages", ColumnType::Uuid),
            owned_by("notifications", "room_id", "rooms", ColumnType::Uuid),
        ],
        columns,
    );
    notifications.check(before::known_kinds());
    notifications
}

fn releases_table() -> TableCreateStatement {
    table_with(
        "notification_releases",
        serial_id(),
        vec![
            owned_by(
                "notification_releases",
                "notification_id",
                "notifications",
                ColumnType::Uuid,
            ),
            owned_by(
                "notification_releases",
                "user_id",
                "users",
                ColumnType::BigInteger,
            ),
        ],
        vec![],
    )
}

/// The new tables' indexes whose names the old tables do not use.
fn new_indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("notifications", &["room_id", "seq"], false),
        index(
            "notification_releases",
            &["notification_id", "user_id"],
            true,
        ),
        index("notification_releases", &["user_id"], false),
    ]
}

fn by_message() -> IndexCreateStatement {
    index("notifications", &["message_id"], false)
}

async fn rename(manager: &SchemaManager<'_>, from: &str, to: &str) -> Result<(), DbErr> {
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(from), Alias::new(to))
                .to_owned(),
        )
        .await
}

async fn drop_table(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(Alias::new(name)).to_owned())
        .await
}

/// PostgreSQL names a table's constraints after it (`notifications_pkey`, …); the table moved
/// aside kept those names while its replacement was created, so the replacement got them with
/// a `1` appended. Once the old table is gone, they get their usual names back.
async fn tidy_constraint_names(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let sql = format!(
        "DO $$ DECLARE c record; BEGIN \
           FOR c IN SELECT conname FROM pg_constraint \
             WHERE conrelid = '{table}'::regclass AND conname LIKE '{table}\\_%1' LOOP \
             EXECUTE format('ALTER TABLE {table} RENAME CONSTRAINT %I TO %I', \
               c.conname, left(c.conname, -1)); \
           END LOOP; END $$"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

async fn run(manager: &SchemaManager<'_>, statements: &[String]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in COUNTERS {
            add_column(manager, table, counter(column)).await?;
        }
        // The old rows stay readable (with their indexes) until they are converted.
        rename(manager, "notifications", OLD_NOTIFICATIONS).await?;
        rename(manager, "notification_recipients", OLD_RECIPIENTS).await?;
        manager.create_table(notifications_table()).await?;
        manager.create_table(releases_table()).await?;
        create_indexes(manager, new_indexes()).await?;

        let (n, r) = (OLD_NOTIFICATIONS, OLD_RECIPIENTS);
        run(
            manager,
            &[
                // Each room's notifications numbered in the order they were created.
                format!(
                    "INSERT INTO notifications \
                       (id, message_id, room_id, notification_type, created_at, seq, owed) \
                     SELECT o.id, o.message_id, m.room_id, o.notification_type, o.created_at, \
                       ROW_NUMBER() OVER (PARTITION BY m.room_id ORDER BY o.created_at, o.id), 0 \
                     FROM {n} o JOIN messages m ON m.id = o.message_id \
                     WHERE EXISTS (SELECT 1 FROM {r} x WHERE x.notification_id = o.id)"
                ),
                "UPDATE rooms SET \
                   notification_seq = COALESCE((SELECT MAX(n.seq) FROM notifications n \
                     WHERE n.room_id = rooms.id), 0), \
                   messages_posted = (SELECT COUNT(*) FROM messages m WHERE m.room_id = rooms.id)"
                    .into(),
                "UPDATE room_members SET \
                   settled = (SELECT r.messages_posted FROM rooms r \
                     WHERE r.id = room_members.room_id) - unread_count, \
                   notified_after = (SELECT COUNT(*) FROM notifications n \
                     WHERE n.room_id = room_members.room_id \
                       AND n.created_at < room_members.created_at)"
                    .into(),
                // A recipient is owed every notification they were stored for, whatever the
                // timestamps say.
                format!(
                    "UPDATE room_members SET notified_after = (\
                       SELECT MIN(n.seq) - 1 FROM notifications n JOIN {r} x ON x.notification_id = n.id \
                       WHERE n.room_id = room_members.room_id AND x.user_id = room_members.user_id) \
                     WHERE notified_after >= (\
                       SELECT MIN(n.seq) FROM notifications n JOIN {r} x ON x.notification_id = n.id \
                       WHERE n.room_id = room_members.room_id AND x.user_id = room_members.user_id)"
                ),
                // Members implied since then who were not stored as recipients (they
                // acknowledged, or sent it) have let go of it.
                format!(
                    "INSERT INTO notification_releases (notification_id, user_id) \
                     SELECT n.id, rm.user_id FROM notifications n \
                     JOIN room_members rm ON rm.room_id = n.room_id \
                     WHERE n.seq > rm.notified_after AND NOT EXISTS (\
                       SELECT 1 FROM {r} x WHERE x.notification_id = n.id AND x.user_id = rm.user_id)"
                ),
                "UPDATE notifications SET owed = (\
                   SELECT COUNT(*) FROM room_members rm \
                   WHERE rm.room_id = notifications.room_id \
                     AND rm.notified_after < notifications.seq \
                     AND NOT EXISTS (SELECT 1 FROM notification_releases x \
                       WHERE x.notification_id = notifications.id AND x.user_id = rm.user_id))"
                    .into(),
                // Owed only to users who have left the room: nobody any more.
                "DELETE FROM notifications WHERE owed = 0".into(),
            ],
        )
        .await?;

        drop_table(manager, OLD_RECIPIENTS).await?;
        drop_table(manager, OLD_NOTIFICATIONS).await?;
        tidy_constraint_names(manager, "notifications").await?;
        manager.create_index(by_message()).await?;
        drop_column(manager, "room_members", "unread_count").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notifications_message_id")
                    .table(Alias::new("notifications"))
                    .to_owned(),
            )
            .await?;
        rename(manager, "notifications", NEW_NOTIFICATIONS).await?;
        rename(manager, "notification_releases", NEW_RELEASES).await?;
        manager.create_table(before::notifications_table()).await?;
        manager.create_table(before::recipients_table()).await?;
        add_column(manager, "room_members", counter("unread_count")).await?;

        let (n, x) = (NEW_NOTIFICATIONS, NEW_RELEASES);
        run(
            manager,
            &[
                format!(
                    "INSERT INTO notifications (id, message_id, notification_type, created_at) \
                     SELECT id, message_id, notification_type, created_at FROM {n}"
                ),
                format!(
                    "INSERT INTO notification_recipients (notification_id, user_id) \
                     SELECT n.id, rm.user_id FROM {n} n \
                     JOIN room_members rm ON rm.room_id = n.room_id \
                     WHERE n.seq > rm.notified_after \
                       AND (n.actor_id IS NULL OR n.actor_id <> rm.user_id) \
                       AND NOT EXISTS (SELECT 1 FROM {x} x \
                         WHERE x.notification_id = n.id AND x.user_id = rm.user_id)"
                ),
                "UPDATE room_members SET unread_count = (SELECT r.messages_posted FROM rooms r \
                   WHERE r.id = room_members.room_id) - settled"
                    .into(),
            ],
        )
        .await?;

        drop_table(manager, NEW_RELEASES).await?;
        drop_table(manager, NEW_NOTIFICATIONS).await?;
        tidy_constraint_names(manager, "notifications").await?;
        create_indexes(manager, before::indexes()).await?;
        for (table, column) in COUNTERS {
            drop_column(manager, table, column).await?;
        }
        Ok(())
    }
}
