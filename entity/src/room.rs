//! A room of any of the three types; type-specific columns are null or unused for the others.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `OneToOneChat`, `GroupChat` or `Channel` (the wire names).
    pub room_type: String,
    /// GroupChat/Channel only.
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar: Option<String>,
    /// GroupChat/Channel only; deleting the creator deletes the room.
    pub creator_id: Option<i64>,
    /// Member cap: `max_participants` (GroupChat) or `max_subscribers` (Channel).
    pub max_members: Option<i64>,
    pub group_locked: bool,
    pub join_approval_required: bool,
    pub is_public: bool,
    /// `property.preferences`: free-form JSON, replaced wholesale on update.
    pub preferences: Json,
    /// OneToOneChat only: "<lower id>:<higher id>", unique, so one chat per unordered pair.
    #[sea_orm(unique)]
    pub pair_key: Option<String>,
    /// Newest message; when it is hard-deleted, the newest live message left (or null).
    pub last_message_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// How many notifications about the room's messages have been written; the last one's
    /// `seq`.
    pub notification_seq: i64,
    /// How many messages have been sent to the room (deleted ones included).
    pub messages_posted: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
