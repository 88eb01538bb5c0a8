//! A chat message. A message is a reply (`parent_message_id`) or a forward (`is_forwarded`),
//! never both: the database's check constraint enforces it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub room_id: Uuid,
    pub sender_id: i64,
    /// Sanitised content (or the literal `Media Files` for media messages).
    pub content: String,
    pub is_deleted: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub parent_message_id: Option<Uuid>,
    pub is_forwarded: bool,
    pub forwarded_from_id: Option<Uuid>,
    pub is_edited: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
