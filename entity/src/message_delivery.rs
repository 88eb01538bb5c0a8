//! "Delivered to": a user acknowledged receiving a message (`message.acknowledged`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_deliveries")]
pub struct Model {
    /// Also the insertion order in which `delivered_to` is rendered.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: Uuid,
    pub user_id: i64,
    pub delivered_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
