//! `rooms.last_message_id` references `messages`, which references `rooms`: the column is added
//! once both tables exist. `ADD COLUMN … REFERENCES` is the one form SQLite and PostgreSQL share.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::util::{create_indexes, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let uuid_type = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "uuid",
            _ => "uuid_text",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE rooms ADD COLUMN last_message_id {uuid_type} NULL \
                 REFERENCES messages(id) ON DELETE SET NULL"
            ))
            .await?;
        create_indexes(manager, vec![index("rooms", &["last_message_id"], false)]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_rooms_last_message_id").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("rooms"))
                    .drop_column(Alias::new("last_message_id"))
                    .to_owned(),
            )
            .await
    }
}
