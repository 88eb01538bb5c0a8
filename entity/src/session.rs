//! One open WebSocket connection; the row is removed when the connection ends.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The connection's id (a UUID chosen by the server).
    pub connection_id: String,
    pub connected_at: DateTimeUtc,
    /// Refreshed by every `session.heartbeat`.
    pub last_seen: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
