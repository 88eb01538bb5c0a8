use sea_orm_migration::prelude::*;

use crate::m20261126_000001_create_users::Users;
use crate::m20261126_000002_create_rooms::Rooms;
use crate::util::{create_indexes, fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Members (participants/subscribers) and managers (admins/moderators) share one shape.
const ROLE_TABLES: [&str; 2] = ["room_members", "room_managers"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ROLE_TABLES {
            let table = Alias::new(name);
            manager
                .create_table(
                    Table::create()
                        .table(table.clone())
                        .col(
                            ColumnDef::new(Alias::new("id"))
                                .big_integer()
                                .not_null()
                                .auto_increment()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(Alias::new("room_id")).uuid().not_null())
                        .col(
                            ColumnDef::new(Alias::new("user_id"))
                                .big_integer()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(Alias::new("created_at"))
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .foreign_key(&mut fk(
                            table.clone(),
                            Alias::new("room_id"),
                            Rooms::Table,
                            ForeignKeyAction::Cascade,
                        ))
                        .foreign_key(&mut fk(
                            table.clone(),
                            Alias::new("user_id"),
                            Users::Table,
                            ForeignKeyAction::Cascade,
                        ))
                        .to_owned(),
                )
                .await?;
            create_indexes(
                manager,
                vec![
                    index(name, &["room_id", "user_id"], true),
                    index(name, &["user_id"], false),
                ],
            )
            .await?;
        }

        let perms = Alias::new("room_permissions");
        manager
            .create_table(
                Table::create()
                    .table(perms.clone())
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("room_id")).uuid().not_null())
                    .col(
                        ColumnDef::new(Alias::new("user_id"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("permission"))
                            .string_len(64)
                            .not_null(),
                    )
                    .check(Expr::cust(
                        "permission IN ('can_add_new_participants', 'can_remove_participants', \
                         'can_add_new_subscribers', 'can_remove_subscribers', 'can_send_messages')",
                    ))
                    .foreign_key(&mut fk(
                        perms.clone(),
                        Alias::new("room_id"),
                        Rooms::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        perms.clone(),
                        Alias::new("user_id"),
                        Users::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index(
                "room_permissions",
                &["room_id", "user_id", "permission"],
                true,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["room_permissions", "room_managers", "room_members"] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
