//! The history index: a room's live messages in history order (`created_at`, then `id`), so a
//! page of `room.messages` — and the room's newest live message after a hard delete — is a
//! walk from one end of an index range, never a scan or a sort of the room. It replaces the
//! `(room_id, created_at)` index, whose every use it covers.
use sea_orm_migration::prelude::*;

use crate::util::{create_indexes, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(
            manager,
            vec![index(
                "messages",
                &["room_id", "is_deleted", "created_at", "id"],
                false,
            )],
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_room_id_created_at")
                    .table(Alias::new("messages"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(
            manager,
            vec![index("messages", &["room_id", "created_at"], false)],
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_room_id_is_deleted_created_at_id")
                    .table(Alias::new("messages"))
                    .to_owned(),
            )
            .await
    }
}
