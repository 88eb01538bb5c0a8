use sea_orm_migration::prelude::*;

use crate::util::{col, create_indexes, index, owned_by, serial_id, table_with, uuid_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut notifications = table_with(
            "notifications",
            uuid_id(),
            vec![owned_by(
                "notifications",
                "message_id",
                "messages",
                ColumnType::Uuid,
            )],
            vec![
                col("notification_type")
                    .string_len(64)
                    .not_null()
                    .to_owned(),
                col("created_at")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned(),
            ],
        );
        notifications.check(Expr::cust(
            "notification_type IN ('NEW_MESSAGE', 'REPLY', 'REACTION')",
        ));
        manager.create_table(notifications).await?;

        manager
            .create_table(table_with(
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
            ))
            .await?;

        create_indexes(
            manager,
            vec![
                index("notifications", &["message_id"], false),
                index(
                    "notification_recipients",
                    &["notification_id", "user_id"],
                    true,
                ),
                index("notification_recipients", &["user_id"], false),
            ],
        )
        .await
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
