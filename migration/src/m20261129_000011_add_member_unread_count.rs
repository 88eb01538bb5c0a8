//! `room_members.unread_count`: how many messages of the room the member has not read yet —
//! messages by others, not deleted, sent since the member joined, without the member's read
//! receipt. A counter on the membership keeps `unread_count` of `room.list`/`room.info` one
//! row read per room; every event that changes it updates it in its own transaction
//! (chatd's `store::unread`). Existing memberships are counted once here, with the same
//! definition, so the counters are exact from the first start on.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("room_members"))
                    .add_column(
                        ColumnDef::new(Alias::new("unread_count"))
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE room_members SET unread_count = (\
                   SELECT COUNT(*) FROM messages m \
                   WHERE m.room_id = room_members.room_id \
                     AND m.sender_id <> room_members.user_id \
                     AND m.is_deleted = false \
                     AND m.created_at >= room_members.created_at \
                     AND NOT EXISTS (SELECT 1 FROM read_receipts r \
                       WHERE r.message_id = m.id AND r.reader_id = room_members.user_id))",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("room_members"))
                    .drop_column(Alias::new("unread_count"))
                    .to_owned(),
            )
            .await
    }
}
