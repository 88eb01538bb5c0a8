//! The `chat.notifications` frame sent at connect, bounded (docs/protocol-notes.md,
//! "Notifications"): at most `notifications.replay_per_room` items of each room — its newest
//! — and at most `notifications.replay_max_bytes` bytes in the whole frame. Items are admitted
//! newest first across all rooms while they fit, so the frame shows the most recent of what
//! the user missed; an item that does not fit is left out and the next (older, smaller) one
//! may still be. What is left out stays pending until acknowledged (and counted in the rooms'
//! `unread_count` until read). The frame keeps the spec's shape and order: rooms newest
//! first by creation, items oldest first within a room (messages.md §14.4).
//!
//! Cost is bounded by the bounds, not by the backlog: the database hands over at most as many
//! candidates as could fit in the frame, and they are rendered in batches of
//! [`RENDER_BATCH`] until the frame is full.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::protocol::server::{direct, event, Frame, NotificationView};
use crate::store::notifications::{newest_pending, Pending};
use crate::store::{render, StoreError};

/// Messages rendered per round of queries while the frame fills.
pub const RENDER_BATCH: usize = 100;

/// No rendered item is shorter than this many bytes (ids, a user object, the message keys:
/// see the test below), so a frame of `max_bytes` never holds more than
/// `max_bytes / MIN_ITEM_BYTES` items and no more candidates are fetched.
pub const MIN_ITEM_BYTES: usize = 256;

/// `notifications.replay_per_room` and `notifications.replay_max_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct ReplayBounds {
    pub per_room: u64,
    pub max_bytes: usize,
}

/// The frame for `user_id`.
pub async fn frame(
    db: &DatabaseConnection,
    user_id: i64,
    bounds: ReplayBounds,
) -> Result<Frame, StoreError> {
    let most = (bounds.max_bytes / MIN_ITEM_BYTES + 1) as u64;
    let candidates = newest_pending(db, user_id, bounds.per_room, most).await?;
    let mut frame = Bounded::new(bounds.max_bytes);
    for batch in candidates.chunks(RENDER_BATCH) {
        let mut ids: Vec<Uuid> = batch.iter().map(|p| p.message_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let views: HashMap<Uuid, _> = render::message_views(db, &ids)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        for pending in batch {
            // A message deleted since the candidates were read is no news any more.
            let Some(message) = views.get(&pending.message_id) else {
                continue;
            };
            let item = NotificationView {
                id: pending.id,
                message: message.clone(),
                notification_type: pending.notification_type.clone(),
            };
            frame.offer(pending, &item);
        }
        if frame.is_full() {
            break;
        }
    }
    Ok(frame.into_frame())
}

/// The items admitted so far and the size of the frame they make.
struct Bounded {
    max_bytes: usize,
    bytes: usize,
    rooms: HashMap<Uuid, Room>,
}

struct Room {
    created_at: chrono::DateTime<chrono::Utc>,
    /// (notification time, id, encoded item).
    items: Vec<(chrono::DateTime<chrono::Utc>, Uuid, Box<RawValue>)>,
}

/// `"<room uuid>":[` … `]`: the bytes a room's key and brackets add, besides a separating
/// comma when it is not the first room.
const ROOM_BYTES: usize = 2 + 36 + 1 + 2;

impl Bounded {
    fn new(max_bytes: usize) -> Self {
        Bounded {
            max_bytes,
            bytes: empty_frame_len(),
            rooms: HashMap::new(),
        }
    }

    /// Adds `item` if the frame stays within its bound with it.
    fn offer(&mut self, pending: &Pending, item: &NotificationView) {
        let Ok(encoded) = serde_json::value::to_raw_value(item) else {
            return;
        };
        let grows = match self.rooms.get(&pending.room_id) {
            Some(_) => encoded.get().len() + 1,
            None => {
                let comma = usize::from(!self.rooms.is_empty());
                ROOM_BYTES + comma + encoded.get().len()
            }
        };
        if self.bytes + grows > self.max_bytes {
            return;
        }
        self.bytes += grows;
        self.rooms
            .entry(pending.room_id)
            .or_insert_with(|| Room {
                created_at: pending.room_created_at,
                items: Vec::new(),
            })
            .items
            .push((pending.created_at, pending.id, encoded));
    }

    /// No item could fit any more.
    fn is_full(&self) -> bool {
        self.bytes + MIN_ITEM_BYTES + ROOM_BYTES + 1 > self.max_bytes
    }

    fn into_frame(self) -> Frame {
        let mut rooms: Vec<(Uuid, Room)> = self.rooms.into_iter().collect();
        // Rooms newest first by creation; items oldest first (messages.md §14.4).
        rooms.sort_by(|(a_id, a), (b_id, b)| (b.created_at, b_id).cmp(&(a.created_at, a_id)));
        for (_, room) in &mut rooms {
            room.items.sort_by_key(|(at, id, _)| (*at, *id));
        }
        direct(event::NOTIFICATIONS, &ByRoom(&rooms))
    }
}

fn empty_frame_len() -> usize {
    direct(event::NOTIFICATIONS, &ByRoom(&[])).len()
}

/// The `data` object: room id → items, in the given order.
struct ByRoom<'a>(&'a [(Uuid, Room)]);

impl Serialize for ByRoom<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, room) in self.0 {
            let items: Vec<&RawValue> = room.items.iter().map(|(_, _, raw)| &**raw).collect();
            map.serialize_entry(id, &items)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::protocol::server::{MessageView, UserView};
    use crate::protocol::Timestamp;

    fn pending(room: Uuid, secs: i64) -> Pending {
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        Pending {
            id: Uuid::new_v4(),
            message_id: Uuid::new_v4(),
            notification_type: "NEW_MESSAGE".into(),
            created_at: at,
            room_id: room,
            room_created_at: at,
        }
    }

    fn item(p: &Pending, content: &str) -> NotificationView {
        let nobody = UserView {
            id: 1,
            username: String::new(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
        };
        NotificationView {
            id: p.id,
            message: MessageView::fresh(
                p.message_id,
                p.room_id,
                Arc::new(nobody),
                content.into(),
                Timestamp(p.created_at),
                false,
            ),
            notification_type: "REPLY".into(),
        }
    }

    #[test]
    fn the_smallest_item_is_no_shorter_than_min_item_bytes() {
        let p = pending(Uuid::new_v4(), 0);
        let len = serde_json::to_string(&item(&p, "")).unwrap().len();
        assert!(len >= MIN_ITEM_BYTES, "{len}");
    }

    #[test]
    fn the_frame_is_exactly_as_long_as_accounted_and_never_longer_than_the_bound() {
        let rooms = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let mut frame = Bounded::new(4_000);
        let mut offered = 0;
        for i in 0..30 {
            let p = pending(rooms[i % 3], 100 - i as i64);
            frame.offer(&p, &item(&p, &"x".repeat(i * 7)));
            offered += 1;
        }
        let accounted = frame.bytes;
        let admitted: usize = frame.rooms.values().map(|r| r.items.len()).sum();
        assert!(admitted > 0 && admitted < offered);
        let text = frame.into_frame();
        assert_eq!(text.len(), accounted);
        assert!(text.len() <= 4_000);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data = parsed["data"].as_object().unwrap();
        assert_eq!(
            data.values()
                .map(|v| v.as_array().unwrap().len())
                .sum::<usize>(),
            admitted
        );
    }
}
