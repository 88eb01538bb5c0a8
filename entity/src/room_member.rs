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
    /// The room's `notification_seq` when this membership began: the member is owed the
    /// room's notifications numbered above it (chatd's `store::notifications`).
    pub notified_after: i64,
    /// How many of the room's `messages_posted` do not count as unread for this member: sent
    /// before they joined, their own, read or deleted. `unread_count` is the difference
    /// (chatd's `store::unread`).
    pub settled: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
