//! Pending notifications, as replayed to a user when they connect.

use std::collections::HashMap;

use entity::{notification, notification_recipient, room};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::render::message_views;
use super::StoreError;
use crate::protocol::server::NotificationView;

/// Every notification `user_id` is still owed, grouped by room: rooms newest first, items
/// oldest first (messages.md §14.4).
pub async fn pending_for<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<(Uuid, Vec<NotificationView>)>, StoreError> {
    let owed = Query::select()
        .column(notification_recipient::Column::NotificationId)
        .from(notification_recipient::Entity)
        .and_where(notification_recipient::Column::UserId.eq(user_id))
        .to_owned();
    let pending = notification::Entity::find()
        .filter(notification::Column::Id.in_subquery(owed))
        .order_by_asc(notification::Column::CreatedAt)
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut message_ids: Vec<Uuid> = pending.iter().map(|n| n.message_id).collect();
    message_ids.dedup();
    let views: HashMap<Uuid, _> = message_views(db, &message_ids)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let room_ids: Vec<Uuid> = views.values().map(|v| v.room.id).collect();
    let rooms = room::Entity::find()
        .filter(room::Column::Id.is_in(room_ids))
        .order_by_desc(room::Column::CreatedAt)
        .all(db)
        .await?;
    let mut by_room: HashMap<Uuid, Vec<NotificationView>> = HashMap::new();
    for n in pending {
        if let Some(view) = views.get(&n.message_id) {
            by_room
                .entry(view.room.id)
                .or_default()
                .push(NotificationView {
                    id: n.id,
                    message: view.clone(),
                    notification_type: n.notification_type,
                });
        }
    }
    Ok(rooms
        .into_iter()
        .filter_map(|r| by_room.remove(&r.id).map(|items| (r.id, items)))
        .collect())
}
