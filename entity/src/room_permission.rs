//! An object permission (`can_add_new_participants`, `can_send_messages`, …) of a user on a room.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_permissions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: Uuid,
    pub user_id: i64,
    /// The reference's codename, e.g. `can_send_messages`.
    pub permission: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
