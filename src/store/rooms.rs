//! Rooms and their membership.

use std::collections::{HashMap, HashSet};

use std::collections::BTreeSet;

use entity::{room, room_manager, room_member, room_permission};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::render::{message_views, user_view};
use super::{now, users, StoreError};
use crate::protocol::server::{
    LastMessage, OneToOneDetail, OneToOneEntry, PropertyView, RoomDetail, RoomListEntry, UserView,
};
use crate::protocol::Timestamp;
use crate::rooms::room::{Permission, Room, RoomKind};

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<room::Model>, StoreError> {
    Ok(room::Entity::find_by_id(id).one(db).await?)
}

/// The stored type of a room row; an unknown one is an error, never a guess.
pub fn kind_of(row: &room::Model) -> Result<RoomKind, StoreError> {
    RoomKind::parse(&row.room_type)
        .ok_or_else(|| StoreError::Corrupt(format!("room {} has type {:?}", row.id, row.room_type)))
}

/// Everything a `RoomActor` needs to own the room: its kind, creator, members, managers,
/// object permissions, lock, visibility and cap. `None` when there is no such room.
pub async fn load<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Room>, StoreError> {
    let Some(row) = find(db, id).await? else {
        return Ok(None);
    };
    let kind = kind_of(&row)?;
    let members: BTreeSet<i64> = member_ids(db, id).await?.into_iter().collect();
    let managers: BTreeSet<i64> = room_manager::Entity::find()
        .select_only()
        .column(room_manager::Column::UserId)
        .filter(room_manager::Column::RoomId.eq(id))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut permissions = BTreeSet::new();
    for (user_id, codename) in room_permission::Entity::find()
        .select_only()
        .column(room_permission::Column::UserId)
        .column(room_permission::Column::Permission)
        .filter(room_permission::Column::RoomId.eq(id))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
    {
        let permission = Permission::parse(&codename)
            .ok_or_else(|| StoreError::Corrupt(format!("room {id} has permission {codename:?}")))?;
        permissions.insert((user_id, permission));
    }
    Ok(Some(Room {
        id,
        kind,
        creator: row.creator_id,
        members,
        managers,
        permissions,
        group_locked: row.group_locked,
        is_public: row.is_public,
        cap: row.max_members,
    }))
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

/// Creates a one-to-one chat with its two members (in the caller's transaction). A concurrent
/// creation for the same pair fails on the unique `pair_key` ([`StoreError::Constraint`]).
pub async fn create_one_to_one<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    users: [i64; 2],
    preferences: Value,
) -> Result<room::Model, StoreError> {
    let at = now();
    let room = room::ActiveModel {
        id: Set(id),
        room_type: Set(RoomKind::OneToOneChat.as_str().into()),
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
    .insert(txn)
    .await?;
    room_member::Entity::insert_many(users.iter().map(|u| room_member::ActiveModel {
        room_id: Set(id),
        user_id: Set(*u),
        created_at: Set(at),
        ..Default::default()
    }))
    .exec(txn)
    .await?;
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
        r#type: RoomKind::OneToOneChat.as_str(),
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
                r#type: RoomKind::OneToOneChat.as_str(),
            }),
        ));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}
