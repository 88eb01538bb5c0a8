//! The replay index: a room's notifications in replay order (`created_at`, then `id`), so the
//! replay at connect takes each room's newest notifications a user is owed by walking one end
//! of an index range and stopping after `notifications.replay_per_room` of them, never ranking
//! the room's whole backlog. It replaces the `(room_id, seq)` index, which the replay walked
//! from where a membership began: its other users (the releases at a leave, by room) are
//! served by the room prefix, and a send writes one index entry per notification, as before.
use sea_orm_migration::prelude::*;

use crate::util::{create_indexes, drop_index, index};

const REPLAY: [&str; 3] = ["room_id", "created_at", "id"];
const BY_SEQ: [&str; 2] = ["room_id", "seq"];

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Creates the index on `create` and drops the one on `drop` of `notifications`.
async fn swap(manager: &SchemaManager<'_>, create: &[&str], drop: &[&str]) -> Result<(), DbErr> {
    create_indexes(manager, vec![index("notifications", create, false)]).await?;
    drop_index(
        manager,
        "notifications",
        &index("notifications", drop, false),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        swap(manager, &REPLAY, &BY_SEQ).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        swap(manager, &BY_SEQ, &REPLAY).await
    }
}
