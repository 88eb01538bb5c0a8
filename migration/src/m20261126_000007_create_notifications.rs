use sea_orm_migration::prelude::*;

use crate::util::{col, create_indexes, index, owned_by, serial_id, table_with, uuid_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What a notification is: its kind (checked) and when it was written.
pub(crate) fn kind_and_time() -> Vec<ColumnDef> {
    vec![
        col("notification_type")
            .string_len(64)
            .not_null()
            .to_owned(),
        col("created_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned(),
    ]
}

/// The check on `notification_type`.
pub(crate) fn known_kinds() -> SimpleExpr {
    Expr::cust("notification_type IN ('NEW_MESSAGE', 'REPLY', 'REACTION')")
}

/// The shape of `notifications` as this step creates it.
pub(crate) fn notifications_table() -> TableCreateStatement {
    let mut notifications = table_with(
        "notifications",
        uuid_id(),
        vec![owned_by(
            "notifications",
            "message_id",
            "messages",
            ColumnType::Uuid,
        )],
        kind_and_time(),
    );
    notifications.check(known_kinds());
    notifications
}

/// One row per user still owed a notification.
pub(crate) fn recipients_table() -> TableCreateStatement {
    table_with(
        "notification_recipients",
        serial_id(),
        vec![
            owned_by(
                "notification_recipients",
                "notification_id",
                "notifications",
                ColumnType::Uuid,
            ),
            owned_by(
                "notification_recipients",
                "user_id",
                "users",
                ColumnType::BigInteger,
            ),
        ],
        vec![],
    )
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("notifications", &["message_id"], false),
        index(
            "notification_recipients",
            &["notification_id", "user_id"],
            true,
        ),
        index("notification_recipients", &["user_id"], false),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(notifications_table()).await?;
        manager.create_table(recipients_table()).await?;
        create_indexes(manager, indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["notification_recipients", "notifications"] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
