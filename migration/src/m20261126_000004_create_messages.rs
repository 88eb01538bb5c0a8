use sea_orm_migration::prelude::*;

use crate::m20261126_000001_create_users::Users;
use crate::m20261126_000002_create_rooms::Rooms;
use crate::util::{create_indexes, fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Messages {
    Table,
    Id,
    RoomId,
    SenderId,
    Content,
    IsDeleted,
    CreatedAt,
    UpdatedAt,
    ParentMessageId,
    IsForwarded,
    ForwardedFromId,
    IsEdited,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(ColumnDef::new(Messages::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Messages::RoomId).uuid().not_null())
                    .col(ColumnDef::new(Messages::SenderId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(
                        ColumnDef::new(Messages::IsDeleted)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Messages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Messages::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Messages::ParentMessageId).uuid().null())
                    .col(
                        ColumnDef::new(Messages::IsForwarded)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Messages::ForwardedFromId).uuid().null())
                    .col(
                        ColumnDef::new(Messages::IsEdited)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    // The reference's `forwarded_messages_cant_be_replies`.
                    .check((
                        Alias::new("forwarded_messages_cant_be_replies"),
                        Expr::cust("NOT (is_forwarded AND parent_message_id IS NOT NULL)"),
                    ))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::RoomId,
                        Rooms::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::SenderId,
                        Users::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::ParentMessageId,
                        Messages::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::ForwardedFromId,
                        Messages::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        // History pages walk a room's messages by time; the FK columns need indexes so that
        // cascades and SET NULL do not scan the table.
        create_indexes(
            manager,
            vec![
                index("messages", &["room_id", "created_at"], false),
                index("messages", &["sender_id"], false),
                index("messages", &["parent_message_id"], false),
                index("messages", &["forwarded_from_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}
