use sea_orm_migration::prelude::*;

use crate::util::{col, create_indexes, index, owned_by, serial_id, table_with};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Members (participants/subscribers) and managers (admins/moderators) share one shape.
const ROLE_TABLES: [&str; 2] = ["room_members", "room_managers"];

fn room_and_user(table: &str) -> Vec<(ColumnDef, ForeignKeyCreateStatement)> {
    vec![
        owned_by(table, "room_id", "rooms", ColumnType::Uuid),
        owned_by(table, "user_id", "users", ColumnType::BigInteger),
    ]
}

/// The shape of `room_members` and `room_managers`, under `name`.
pub(crate) fn role_table(name: &str) -> TableCreateStatement {
    table_with(
        name,
        serial_id(),
        room_and_user(name),
        vec![col("created_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned()],
    )
}

/// The shape of `room_permissions`, under `name`.
pub(crate) fn permissions_table(name: &str) -> TableCreateStatement {
    let mut perms = table_with(
        name,
        serial_id(),
        room_and_user(name),
        vec![col("permission").string_len(64).not_null().to_owned()],
    );
    perms.check(Expr::cust(
        "permission IN ('can_add_new_participants', 'can_remove_participants', \
         'can_add_new_subscribers', 'can_remove_subscribers', 'can_send_messages')",
    ));
    perms
}

/// The indexes of a role table (`room_members`, `room_managers`).
pub(crate) fn role_indexes(name: &str) -> Vec<IndexCreateStatement> {
    vec![
        index(name, &["room_id", "user_id"], true),
        index(name, &["user_id"], false),
    ]
}

pub(crate) fn permissions_indexes() -> Vec<IndexCreateStatement> {
    vec![
        index(
            "room_permissions",
            &["room_id", "user_id", "permission"],
            true,
        ),
        index("room_permissions", &["user_id"], false),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ROLE_TABLES {
            manager.create_table(role_table(name)).await?;
            create_indexes(manager, role_indexes(name)).await?;
        }
        manager
            .create_table(permissions_table("room_permissions"))
            .await?;
        create_indexes(manager, permissions_indexes()).await
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
