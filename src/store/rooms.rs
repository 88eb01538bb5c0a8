//! Rooms and their membership.

use std::collections::{HashMap, HashSet};

use entity::{room, room_member};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::render::{message_views, user_view};
use super::{now, users, StoreError};
use crate::protocol::server::{
    LastMessage, OneToOneDetail, OneToOneEntry, PropertyView, RoomDetail, RoomListEntry, UserView,
};
use crate::protocol::Timestamp;

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<room::Model>, StoreError> {
    Ok(room::Entity::find_by_id(id).one(db).await?)
}

/// Member ids in ascending order.
pub async fn member_ids<C: ConnectionTrait>(db: &C, room_id: Uuid) -> Result<Vec<i64>, StoreError> {
    Ok(room_member::Entity::find()
        .select_only()
        .column(room_member::Column::UserId)
        .filter(room_member::Column::RoomId.eq(room_id))
        .order_by_asc(room_member::Column::UserId)
        .into_tuple::<i64>()
        .all(db)
        .await?)
}

pub async fn is_member<C: ConnectionTrait>(
    db: &C,
    room_id: Uuid,
    user_id: i64,
) -> Result<bool, StoreError> {
    Ok(room_member::Entity::find()
        .filter(room_member::Column::RoomId.eq(room_id))
        .filter(room_member::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// Of `room_ids`, those `user_id` is a member of.
pub async fn rooms_of_user_among<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    room_ids: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    Ok(room_member::Entity::find()
        .select_only()
        .column(room_member::Column::RoomId)
        .filter(room_member::Column::UserId.eq(user_id))
        .filter(room_member::Column::RoomId.is_in(room_ids.iter().copied()))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The key that makes a one-to-one chat unique per unordered pair.
pub fn pair_key(a: i64, b: i64) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

pub async fn find_one_to_one<C: ConnectionTrait>(
    db: &C,
    a: i64,
    b: i64,
) -> Result<Option<room::Model>, StoreError> {
    Ok(room::Entity::find()
        .filter(room::Column::PairKey.eq(pair_key(a, b)))
        .one(db)
        .await?)
}

/// Creates a one-to-one chat with its two members in one transaction. A concurrent creation
/// for the same pair fails on the unique `pair_key` ([`StoreError::Constraint`]).
pub async fn create_one_to_one<C: TransactionTrait>(
    db: &C,
    id: Uuid,
    users: [i64; 2],
    preferences: Value,
) -> Result<room::Model, StoreError> {
    let txn = db.begin().await?;
    let at = now();
    let room = room::ActiveModel {
        id: Set(id),
        room_type: Set("OneToOneChat".into()),
        name: Set(None),
        description: Set(None),
        avatar: Set(None),
        creator_id: Set(None),
        max_members: Set(None),
        group_locked: Set(false),
        join_approval_required: Set(false),
        is_public: Set(false),
        preferences: Set(preferences),
        pair_key: Set(Some(pair_key(users[0], users[1]))),
        last_message_id: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    room_member::Entity::insert_many(users.iter().map(|u| room_member::ActiveModel {
        room_id: Set(id),
        user_id: Set(*u),
        created_at: Set(at),
        ..Default::default()
    }))
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok(room)
}

fn room_users(by_id: &HashMap<i64, UserView>, ids: &[i64]) -> Vec<UserView> {
    ids.iter().filter_map(|id| by_id.get(id).cloned()).collect()
}

/// The room detail payload (rooms.md §5.2), state as stored now.
pub async fn detail<C: ConnectionTrait>(
    db: &C,
    room: &room::Model,
) -> Result<RoomDetail, StoreError> {
    let members = member_ids(db, room.id).await?;
    let by_id: HashMap<i64, UserView> = users::find_many(db, &members)
        .await?
        .iter()
        .map(|u| (u.id, user_view(u)))
        .collect();
    Ok(RoomDetail::OneToOne(OneToOneDetail {
        id: room.id,
        participants: room_users(&by_id, &members),
        property: PropertyView {
            preferences: room.preferences.clone(),
        },
        created_at: Timestamp(room.created_at),
        updated_at: Timestamp(room.updated_at),
        r#type: "OneToOneChat",
    }))
}

/// Every room `user_id` is in, as list entries, most recently active first (DECISIONS 12).
pub async fn list_for_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<RoomListEntry>, StoreError> {
    let room_ids: Vec<Uuid> = room_member::Entity::find()
        .select_only()
        .column(room_member::Column::RoomId)
        .filter(room_member::Column::UserId.eq(user_id))
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rooms = room::Entity::find()
        .filter(room::Column::Id.is_in(room_ids.iter().copied()))
        .all(db)
        .await?;
    let memberships = room_member::Entity::find()
        .filter(room_member::Column::RoomId.is_in(room_ids.iter().copied()))
        .all(db)
        .await?;
    let mut members: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for m in &memberships {
        members.entry(m.room_id).or_default().push(m.user_id);
    }
    let user_ids: Vec<i64> = memberships
        .iter()
        .map(|m| m.user_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let users: HashMap<i64, UserView> = users::find_many(db, &user_ids)
        .await?
        .iter()
        .map(|u| (u.id, user_view(u)))
        .collect();
    let last_ids: Vec<Uuid> = rooms.iter().filter_map(|r| r.last_message_id).collect();
    let last: HashMap<Uuid, _> = message_views(db, &last_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();

    let mut entries: Vec<(chrono::DateTime<chrono::Utc>, RoomListEntry)> = Vec::new();
    for room in rooms {
        let last_message = room.last_message_id.and_then(|id| last.get(&id));
        let activity = last_message
            .map(|m| m.created_at.0)
            .unwrap_or(room.created_at);
        let peer_id = members
            .get(&room.id)
            .and_then(|ids| ids.iter().find(|id| **id != user_id).copied())
            .unwrap_or(user_id);
        let Some(peer) = users.get(&peer_id).cloned() else {
            continue;
        };
        entries.push((
            activity,
            RoomListEntry::OneToOne(OneToOneEntry {
                id: room.id,
                peer,
                last_message: match last_message {
                    Some(m) => LastMessage::Message(Box::new(m.clone())),
                    None => LastMessage::placeholder(),
                },
                created_at: Timestamp(room.created_at),
                updated_at: Timestamp(room.updated_at),
                r#type: "OneToOneChat",
            }),
        ));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}
