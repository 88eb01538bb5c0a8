//! Membership: participant (OneToOneChat, GroupChat) or subscriber (Channel).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: Uuid,
    pub user_id: i64,
    /// When this membership began: messages sent before it are not counted as unread.
    pub created_at: DateTimeUtc,
    /// Messages of the room by others, not deleted, sent since `created_at`, that this member
    /// has not read (kept by chatd's `store::unread`).
    pub unread_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
