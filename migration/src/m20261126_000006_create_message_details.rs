use sea_orm_migration::prelude::*;

use crate::util::{col, create_indexes, index, owned_by, serial_id, table_with, uuid_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The 27 MIME types the reference allows; anything else violates `valid_mime_type` (4005).
pub const MIME_TYPES: [&str; 27] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/heic",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/wav",
    "audio/opus",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/ogg",
    "video/x-msvideo",
    "video/x-matroska",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain",
    "text/csv",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let message = |t: &str| owned_by(t, "message_id", "messages", ColumnType::Uuid);
        let user = |t: &str, c: &str| owned_by(t, c, "users", ColumnType::BigInteger);

        manager
            .create_table(table_with(
                "message_deliveries",
                serial_id(),
                vec![
                    message("message_deliveries"),
                    user("message_deliveries", "user_id"),
                ],
                vec![col("delivered_at")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned()],
            ))
            .await?;

        let mime_list = MIME_TYPES
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut attachments = table_with(
            "attachments",
            uuid_id(),
            vec![message("attachments")],
            vec![
                col("position").integer().not_null().to_owned(),
                col("media_url").text().not_null().to_owned(),
                col("media_type").string_len(64).not_null().to_owned(),
                col("file_size")
                    .big_integer()
                    .not_null()
                    .default(0)
                    .to_owned(),
                col("mime_type").string_len(128).not_null().to_owned(),
                col("caption").text().null().to_owned(),
                col("metadata").json().not_null().to_owned(),
            ],
        );
        attachments
            .check((
                Alias::new("valid_mime_type"),
                Expr::cust(format!("mime_type IN ({mime_list})")),
            ))
            .check(Expr::cust("file_size >= 0"));
        manager.create_table(attachments).await?;

        manager
            .create_table(table_with(
                "reactions",
                uuid_id(),
                vec![message("reactions"), user("reactions", "user_id")],
                vec![
                    col("reaction_content")
                        .string_len(128)
                        .not_null()
                        .to_owned(),
                    col("created_at")
                        .timestamp_with_time_zone()
                        .not_null()
                        .to_owned(),
                ],
            ))
            .await?;

        manager
            .create_table(table_with(
                "read_receipts",
                uuid_id(),
                vec![message("read_receipts"), user("read_receipts", "reader_id")],
                vec![col("read_at")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned()],
            ))
            .await?;

        create_indexes(
            manager,
            vec![
                index("message_deliveries", &["message_id", "user_id"], true),
                index("message_deliveries", &["user_id"], false),
                index("attachments", &["message_id"], false),
                // The reference's `unique_reaction` and `unique_read_receipts`.
                index("reactions", &["message_id", "user_id"], true),
                index("reactions", &["user_id"], false),
                index("read_receipts", &["message_id", "reader_id"], true),
                index("read_receipts", &["reader_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "read_receipts",
            "reactions",
            "attachments",
            "message_deliveries",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
