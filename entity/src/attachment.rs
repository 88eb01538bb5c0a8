//! A media attachment: an external URL plus metadata (files are never uploaded through chatd).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub message_id: Uuid,
    /// Index in the sender's `media` array; the order attachments are rendered in.
    pub position: i32,
    pub media_url: String,
    /// `image`, `video`, `audio` or `file`.
    pub media_type: String,
    /// Bytes.
    pub file_size: i64,
    /// One of the 27 allowed MIME types (a check constraint).
    pub mime_type: String,
    pub caption: Option<String>,
    pub metadata: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
