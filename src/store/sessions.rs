//! One row per open connection: written at connect, `last_seen` refreshed in batches
//! (`presence::ledger`), removed at close.

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{chunks, now, StoreError};

pub async fn open<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    connection_id: &str,
) -> Result<(), StoreError> {
    let at = now();
    session::ActiveModel {
        user_id: Set(user_id),
        connection_id: Set(connection_id.to_string()),
        connected_at: Set(at),
        last_seen: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?;
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

pub async fn close<C: ConnectionTrait>(db: &C, connection_id: &str) -> Result<(), StoreError> {
    session::Entity::delete_many()
        .filter(session::Column::ConnectionId.eq(connection_id))
        .exec(db)
        .await?;
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
