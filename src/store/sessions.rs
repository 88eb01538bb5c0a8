//! One row per open connection: written at connect, `last_seen` refreshed in batches
//! (`presence::ledger`), removed at close. The ledger writes the rows of the connections that
//! open and close at the same moment together ([`open_many`], [`close_many`]).

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{chunks, StoreError};

/// A row for each of these connections (`user_id`, connection id, connected at), `last_seen`
/// = connected at: one statement per [`chunks`] run.
pub async fn open_many<C: ConnectionTrait>(
    db: &C,
    opened: &[(i64, String, DateTime<Utc>)],
) -> Result<(), StoreError> {
    for chunk in chunks(opened, 4) {
        session::Entity::insert_many(chunk.iter().map(|(user_id, connection_id, at)| {
            session::ActiveModel {
                user_id: Set(*user_id),
                connection_id: Set(connection_id.clone()),
                connected_at: Set(*at),
                last_seen: Set(*at),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Removes the rows of these connections: one statement per [`chunks`] run.
pub async fn close_many<C: ConnectionTrait>(
    db: &C,
    connection_ids: &[String],
) -> Result<(), StoreError> {
    for chunk in chunks(connection_ids, 1) {
        session::Entity::delete_many()
            .filter(session::Column::ConnectionId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// `last_seen = at` for these connections (a batch of heartbeats: `presence::ledger`).
pub async fn touch_many<C: ConnectionTrait>(
    db: &C,
    connection_ids: &[String],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in chunks(connection_ids, 1) {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeen, Expr::value(at))
            .filter(session::Column::ConnectionId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Rows left by a previous run of this server (it stopped without closing them). One node
/// owns the table for now; a multi-node deployment will scope this to the node's own rows.
pub async fn clear_all<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    Ok(session::Entity::delete_many().exec(db).await?.rows_affected)
}

pub async fn for_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<session::Model>, StoreError> {
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .all(db)
        .await?)
}
