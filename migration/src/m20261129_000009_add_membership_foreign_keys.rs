//! Admin/moderator rows and object permissions belong to a membership: `(room_id, user_id)` of
//! `room_managers` and `room_permissions` references `room_members(room_id, user_id)` with
//! `ON DELETE CASCADE`, so leaving or being removed revokes role and permissions by
//! construction (rooms.md §4.3), and a role or permission can never exist without membership.
//!
//! PostgreSQL adds the constraint in place. SQLite cannot add a constraint to a table, so each
//! table is rebuilt: created under a new name with the same shape plus the key, rows copied
//! (ids kept), the old table dropped, the new one renamed and its indexes recreated. Rows
//! without a membership (which no code path writes) cannot satisfy the key and are not
//! carried over. The step runs in one transaction on both backends.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261126_000003_create_room_memberships::{
    permissions_indexes, permissions_table, role_indexes, role_table,
};
use crate::util::create_indexes;

#[derive(DeriveMigrationName)]
pub struct Migration;

struct Dependent {
    table: &'static str,
    columns: &'static str,
    shape: fn(&str) -> TableCreateStatement,
    indexes: fn() -> Vec<IndexCreateStatement>,
}

const DEPENDENTS: [Dependent; 2] = [
    Dependent {
        table: "room_managers",
        columns: "id, room_id, user_id, created_at",
        shape: role_table,
        indexes: || role_indexes("room_managers"),
    },
    Dependent {
        table: "room_permissions",
        columns: "id, room_id, user_id, permission",
        shape: permissions_table,
        indexes: permissions_indexes,
    },
];

fn constraint_name(table: &str) -> String {
    format!("fk_{table}_membership")
}

fn membership_key(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(constraint_name(table))
        .from_tbl(Alias::new(table))
        .from_col(Alias::new("room_id"))
        .from_col(Alias::new("user_id"))
        .to_tbl(Alias::new("room_members"))
        .to_col(Alias::new("room_id"))
        .to_col(Alias::new("user_id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// SQLite: replaces `dep.table` by a copy of itself, with or without the membership key.
async fn rebuild(manager: &SchemaManager<'_>, dep: &Dependent, keyed: bool) -> Result<(), DbErr> {
    let fresh = format!("{}_rebuilt", dep.table);
    let mut shape = (dep.shape)(&fresh);
    if keyed {
        shape.foreign_key(&mut membership_key(&fresh));
    }
    manager.create_table(shape).await?;
    let db = manager.get_connection();
    let only_members = if keyed {
        " WHERE EXISTS (SELECT 1 FROM room_members m \
         WHERE m.room_id = t.room_id AND m.user_id = t.user_id)"
    } else {
        ""
    };
    db.execute_unprepared(&format!(
        "INSERT INTO {fresh} ({cols}) SELECT {cols} FROM {table} t{only_members}",
        cols = dep.columns,
        table = dep.table,
    ))
    .await?;
    db.execute_unprepared(&format!("DROP TABLE {}", dep.table))
        .await?;
    db.execute_unprepared(&format!("ALTER TABLE {fresh} RENAME TO {}", dep.table))
        .await?;
    create_indexes(manager, (dep.indexes)()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for dep in &DEPENDENTS {
            match manager.get_database_backend() {
                DatabaseBackend::Sqlite => rebuild(manager, dep, true).await?,
                _ => {
                    manager
                        .get_connection()
                        .execute_unprepared(&format!(
                            "DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM room_members m \
                             WHERE m.room_id = t.room_id AND m.user_id = t.user_id)",
                            table = dep.table
                        ))
                        .await?;
                    manager
                        .create_foreign_key(membership_key(dep.table))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for dep in &DEPENDENTS {
            match manager.get_database_backend() {
                DatabaseBackend::Sqlite => rebuild(manager, dep, false).await?,
                _ => {
                    manager
                        .drop_foreign_key(
                            ForeignKey::drop()
                                .name(constraint_name(dep.table))
                                .table(Alias::new(dep.table))
                                .to_owned(),
                        )
                        .await?
                }
            }
        }
        Ok(())
    }
}
