//! Large backlogs written straight into the database (the behaviour under test is what the
//! server does with them, not how they were sent): messages of one sender in a room, each
//! with a notification for the given recipients, in bulk inserts of a few hundred rows.

use chrono::{DateTime, Duration, Utc};
use entity::{message, notification, notification_recipient};
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use uuid::Uuid;

/// One message of a backlog and its notification.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub message_id: Uuid,
    pub notification_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Writes `count` messages of `sender` to `room`, one millisecond apart from `start`, each
/// with a `NEW_MESSAGE` notification owed to `recipients`. Returns them oldest first.
pub async fn write(
    db: &DatabaseConnection,
    room: Uuid,
    sender: i64,
    recipients: &[i64],
    start: DateTime<Utc>,
    count: usize,
) -> Vec<Written> {
    let written: Vec<Written> = (0..count)
        .map(|i| Written {
            message_id: Uuid::new_v4(),
            notification_id: Uuid::new_v4(),
            at: start + Duration::milliseconds(i as i64),
        })
        .collect();
    let txn = db.begin().await.expect("begin");
    for chunk in written.chunks(500) {
        message::Entity::insert_many(chunk.iter().map(|w| message::ActiveModel {
            id: Set(w.message_id),
            room_id: Set(room),
            sender_id: Set(sender),
            content: Set(format!("backlog {}", w.at.timestamp_millis())),
            is_deleted: Set(false),
            created_at: Set(w.at),
            updated_at: Set(w.at),
            parent_message_id: Set(None),
            is_forwarded: Set(false),
            forwarded_from_id: Set(None),
            is_edited: Set(false),
        }))
        .exec_without_returning(&txn)
        .await
        .expect("insert messages");
        notification::Entity::insert_many(chunk.iter().map(|w| notification::ActiveModel {
            id: Set(w.notification_id),
            message_id: Set(w.message_id),
            notification_type: Set("NEW_MESSAGE".into()),
            created_at: Set(w.at),
        }))
        .exec_without_returning(&txn)
        .await
        .expect("insert notifications");
        notification_recipient::Entity::insert_many(chunk.iter().flat_map(|w| {
            recipients
                .iter()
                .map(move |u| notification_recipient::ActiveModel {
                    notification_id: Set(w.notification_id),
                    user_id: Set(*u),
                    ..Default::default()
                })
        }))
        .exec_without_returning(&txn)
        .await
        .expect("insert recipients");
    }
    txn.commit().await.expect("commit");
    written
}
