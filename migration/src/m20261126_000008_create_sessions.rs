use sea_orm_migration::prelude::*;

use crate::util::{col, create_indexes, index, owned_by, serial_id, table_with};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table_with(
                "sessions",
                serial_id(),
                vec![owned_by(
                    "sessions",
                    "user_id",
                    "users",
                    ColumnType::BigInteger,
                )],
                vec![
                    col("connection_id").string_len(64).not_null().to_owned(),
                    col("connected_at")
                        .timestamp_with_time_zone()
                        .not_null()
                        .to_owned(),
                    col("last_seen")
                        .timestamp_with_time_zone()
                        .not_null()
                        .to_owned(),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            vec![
                index("sessions", &["connection_id"], true),
                index("sessions", &["user_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("sessions")).to_owned())
            .await
    }
}
