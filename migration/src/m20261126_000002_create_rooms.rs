use sea_orm_migration::prelude::*;

use crate::m20261126_000001_create_users::Users;
use crate::util::{create_indexes, fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Rooms {
    Table,
    Id,
    RoomType,
    Name,
    Description,
    Avatar,
    CreatorId,
    MaxMembers,
    GroupLocked,
    JoinApprovalRequired,
    IsPublic,
    Preferences,
    PairKey,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Rooms::Table)
                    .col(ColumnDef::new(Rooms::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Rooms::RoomType).string_len(16).not_null())
                    .col(ColumnDef::new(Rooms::Name).string_len(64).null())
                    .col(ColumnDef::new(Rooms::Description).text().null())
                    .col(ColumnDef::new(Rooms::Avatar).string_len(200).null())
                    .col(ColumnDef::new(Rooms::CreatorId).big_integer().null())
                    .col(ColumnDef::new(Rooms::MaxMembers).big_integer().null())
                    .col(
                        ColumnDef::new(Rooms::GroupLocked)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Rooms::JoinApprovalRequired)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Rooms::IsPublic)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Rooms::Preferences).json().not_null())
                    .col(ColumnDef::new(Rooms::PairKey).string_len(48).null())
                    .col(
                        ColumnDef::new(Rooms::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Rooms::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Expr::cust(
                        "room_type IN ('OneToOneChat', 'GroupChat', 'Channel')",
                    ))
                    .foreign_key(&mut fk(
                        Rooms::Table,
                        Rooms::CreatorId,
                        Users::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // One OneToOneChat per unordered pair: pair_key is "<low id>:<high id>" and NULL for
        // other room types (NULLs never collide in a unique index).
        create_indexes(
            manager,
            vec![
                index("rooms", &["pair_key"], true),
                index("rooms", &["creator_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Rooms::Table).to_owned())
            .await
    }
}
