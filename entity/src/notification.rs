//! A pending notification about one message event. Its recipients are not stored: they are
//! the members of `room_id` whose membership began before it (`room_members.notified_after`
//! < `seq`), except `actor_id` and those who let go of it (`notification_releases`). Deleted
//! when `owed` reaches zero.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub message_id: Uuid,
    /// The message's room.
    pub room_id: Uuid,
    /// `NEW_MESSAGE`, `REPLY` or `REACTION`.
    pub notification_type: String,
    pub created_at: DateTimeUtc,
    /// The sender or reactor, who is not told; null for rows converted from the old layout
    /// (everyone not owed those has a release row).
    pub actor_id: Option<i64>,
    /// Its place in the room's notifications (`rooms.notification_seq` when it was written).
    pub seq: i64,
    /// How many recipients have neither acknowledged it nor left the room.
    pub owed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
