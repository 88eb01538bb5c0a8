//! The reply and forward indexes hold only the messages that are replies or forwards. They
//! exist for the foreign keys' `ON DELETE SET NULL` (finding the messages that point at a
//! deleted one), which always looks for a value, never for NULL; yet a full index holds an
//! entry for every message, NULL for nearly all, and each send wrote both. A partial index
//! (`WHERE … IS NOT NULL`, the same on SQLite and PostgreSQL) serves the same lookups.
use sea_orm_migration::prelude::*;

use crate::util::{create_indexes, drop_index, index};

const REFERENCES: [&str; 2] = ["parent_message_id", "forwarded_from_id"];

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn rebuild(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    for column in REFERENCES {
        let mut by = index("messages", &[column], false);
        drop_index(manager, "messages", &by).await?;
        if partial {
            by.and_where(Expr::col(Alias::new(column)).is_not_null());
        }
        create_indexes(manager, vec![by]).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, false).await
    }
}
