//! Large backlogs written straight into the database (the behaviour under test is what the
//! server does with them, not how they were sent): messages of one sender in a room, each
//! with a notification for the given recipients, in bulk inserts of a few hundred rows, and
//! the room's counters moved on as sends would move them.

use chrono::{DateTime, Duration, Utc};
use entity::{message, notification, notification_release, room, room_member};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

/// One message of a backlog and its notification.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub message_id: Uuid,
    pub notification_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Writes `count` messages of `sender` to `room`, one millisecond apart from `start`, each
/// with a `NEW_MESSAGE` notification owed to `recipients` (members of the room; the other
/// members are written as having acknowledged it). Returns them oldest first.
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
    let seq: i64 = room::Entity::find_by_id(room)
        .select_only()
        .column(room::Column::NotificationSeq)
        .into_tuple()
        .one(&txn)
        .await
        .expect("room")
        .expect("the room exists");
    let released: Vec<i64> = room_member::Entity::find()
        .select_only()
        .column(room_member::Column::UserId)
        .filter(room_member::Column::RoomId.eq(room))
        .into_tuple::<i64>()
        .all(&txn)
        .await
        .expect("members")
        .into_iter()
        .filter(|u| *u != sender && !recipients.contains(u))
        .collect();
    for (c, chunk) in written.chunks(500).enumerate() {
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
        notification::Entity::insert_many(chunk.iter().enumerate().map(|(i, w)| {
            notification::ActiveModel {
                id: Set(w.notification_id),
                message_id: Set(w.message_id),
                room_id: Set(room),
                notification_type: Set("NEW_MESSAGE".into()),
                created_at: Set(w.at),
                actor_id: Set(Some(sender)),
                seq: Set(seq + (c * 500 + i) as i64 + 1),
                owed: Set(recipients.len() as i64),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .expect("insert notifications");
        if !released.is_empty() {
            notification_release::Entity::insert_many(chunk.iter().flat_map(|w| {
                released
                    .iter()
                    .map(move |u| notification_release::ActiveModel {
                        notification_id: Set(w.notification_id),
                        user_id: Set(*u),
                        ..Default::default()
                    })
            }))
            .exec_without_returning(&txn)
            .await
            .expect("insert releases");
        }
    }
    let count = count as i64;
    room::Entity::update_many()
        .col_expr(
            room::Column::NotificationSeq,
            Expr::col(room::Column::NotificationSeq).add(count),
        )
        .col_expr(
            room::Column::MessagesPosted,
            Expr::col(room::Column::MessagesPosted).add(count),
        )
        .filter(room::Column::Id.eq(room))
        .exec(&txn)
        .await
        .expect("room counters");
    room_member::Entity::update_many()
        .col_expr(
            room_member::Column::Settled,
            Expr::col(room_member::Column::Settled).add(count),
        )
        .filter(room_member::Column::RoomId.eq(room))
        .filter(room_member::Column::UserId.eq(sender))
        .exec(&txn)
        .await
        .expect("the sender's own messages");
    txn.commit().await.expect("commit");
    written
}
