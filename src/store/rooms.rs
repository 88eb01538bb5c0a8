//! Rooms, their membership, roles and object permissions. Each write here has a twin on
//! [`Room`] (`admit`, `remove`, `promote`, `demote`, `grant`, `revoke`) that the room's actor
//! applies to its state once the transaction that ran the write has committed; the schema's
//! cascades make a removal take the role and the permissions with the membership, exactly as
//! [`Room::remove`] does.

use std::collections::{BTreeSet, HashMap};

use entity::{room, room_manager, room_member, room_permission};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Unchanged, ColumnTrait, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::render::{message_views, user_or_placeholder, user_view};
use super::{chunks, notifications, now, unread, users, StoreError};
use crate::protocol::client::{Profile, RoomUpdate};
use crate::protocol::server::{
    ChannelDetail, ChannelEntry, GroupDetail, GroupEntry, LastMessage, OneToOneDetail,
    OneToOneEntry, PropertyView, RoomDetail, RoomListEntry, UserView,
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

/// A room to create, validated.
pub struct NewRoom {
    pub id: Uuid,
    pub kind: RoomKind,
    /// The requester: creator and admin/moderator of a GroupChat/Channel; one of the two
    /// participants of a OneToOneChat.
    pub creator: i64,
    /// Every member, the creator included.
    pub members: BTreeSet<i64>,
    /// GroupChat/Channel fields (`None` for a OneToOneChat).
    pub profile: Option<Profile>,
    /// The cap, the configured default already applied (GroupChat/Channel).
    pub cap: Option<i64>,
    pub preferences: Value,
}

/// Creates a room with its members; the creator of a GroupChat/Channel becomes its
/// admin/moderator with the role's permissions (rooms.md §4.2). Returns the row and the state
/// written. A clashing id, or a second one-to-one chat for a pair (unique `pair_key`), fails
/// with [`StoreError::Constraint`].
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    new: NewRoom,
) -> Result<(room::Model, Room), StoreError> {
    let at = now();
    let one_to_one = new.kind == RoomKind::OneToOneChat;
    let pair = match (one_to_one, new.members.first(), new.members.last()) {
        (true, Some(a), Some(b)) => Some(pair_key(*a, *b)),
        _ => None,
    };
    let profile = new.profile.as_ref();
    let row = room::ActiveModel {
        id: Set(new.id),
        room_type: Set(new.kind.as_str().into()),
        name: Set(profile.map(|p| p.name.clone())),
        description: Set(profile.and_then(|p| p.description.clone())),
        avatar: Set(profile.and_then(|p| p.avatar.clone())),
        creator_id: Set((!one_to_one).then_some(new.creator)),
        max_members: Set(new.cap.filter(|_| !one_to_one)),
        group_locked: Set(profile.is_some_and(|p| p.group_locked)),
        join_approval_required: Set(profile.is_some_and(|p| p.join_approval_required)),
        is_public: Set(profile.is_some_and(|p| p.is_public)),
        preferences: Set(new.preferences),
        pair_key: Set(pair),
        last_message_id: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        notification_seq: Set(0),
        messages_posted: Set(0),
    }
    .insert(txn)
    .await?;
    let mut state = Room {
        id: row.id,
        kind: new.kind,
        creator: row.creator_id,
        members: BTreeSet::new(),
        managers: BTreeSet::new(),
        permissions: BTreeSet::new(),
        group_locked: row.group_locked,
        is_public: row.is_public,
        cap: row.max_members,
    };
    let members: Vec<i64> = new.members.into_iter().collect();
    admit(txn, row.id, &members).await?;
    state.members.extend(members);
    if !one_to_one {
        promote(txn, &state, &[new.creator]).await?;
        state.promote(&[new.creator]);
    }
    Ok((row, state))
}

/// Makes `users` members (those who already are stay as they are).
pub async fn admit<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let at = now();
    // A newcomer is owed the room's notifications and counts its messages from here on.
    let (notified_after, settled) = room::Entity::find_by_id(room_id)
        .select_only()
        .column(room::Column::NotificationSeq)
        .column(room::Column::MessagesPosted)
        .into_tuple::<(i64, i64)>()
        .one(txn)
        .await?
        .unwrap_or_default();
    // Five columns a row.
    for chunk in chunks(users, 5) {
        room_member::Entity::insert_many(chunk.iter().map(|u| room_member::ActiveModel {
            room_id: Set(room_id),
            user_id: Set(*u),
            created_at: Set(at),
            notified_after: Set(notified_after),
            settled: Set(settled),
            ..Default::default()
        }))
        .on_conflict_do_nothing_on([room_member::Column::RoomId, room_member::Column::UserId])
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Takes `users` out of the room. Their admin/moderator rows and object permissions go with
/// the membership (composite foreign keys, `ON DELETE CASCADE`), and so do their pending
/// notifications about the room's messages (DECISIONS 26).
pub async fn remove<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    notifications::drop_for_room(txn, room_id, users).await?;
    for chunk in chunks(users, 1) {
        room_member::Entity::delete_many()
            .filter(room_member::Column::RoomId.eq(room_id))
            .filter(room_member::Column::UserId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// `users` become admins (GroupChat) / moderators (Channel) of `room`, with the role's
/// permissions.
pub async fn promote<C: ConnectionTrait>(
    txn: &C,
    room: &Room,
    users: &[i64],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let at = now();
    for chunk in chunks(users, 3) {
        room_manager::Entity::insert_many(chunk.iter().map(|u| room_manager::ActiveModel {
            room_id: Set(room.id),
            user_id: Set(*u),
            created_at: Set(at),
            ..Default::default()
        }))
        .on_conflict_do_nothing_on([room_manager::Column::RoomId, room_manager::Column::UserId])
        .exec_without_returning(txn)
        .await?;
    }
    grant(txn, room.id, users, Permission::of_role(room.kind)).await
}

/// `users` stop being admins/moderators and lose the role's permissions.
pub async fn demote<C: ConnectionTrait>(
    txn: &C,
    room: &Room,
    users: &[i64],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    for chunk in chunks(users, 1) {
        room_manager::Entity::delete_many()
            .filter(room_manager::Column::RoomId.eq(room.id))
            .filter(room_manager::Column::UserId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    revoke(txn, room.id, users, Permission::of_role(room.kind)).await
}

/// Grants each of `permissions` to each of `users` (idempotent).
pub async fn grant<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
    permissions: &[Permission],
) -> Result<(), StoreError> {
    if users.is_empty() || permissions.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(i64, Permission)> = users
        .iter()
        .flat_map(|u| permissions.iter().map(move |p| (*u, *p)))
        .collect();
    // Three columns a row.
    for chunk in chunks(&pairs, 3) {
        let rows = chunk.iter().map(|(u, p)| room_permission::ActiveModel {
            room_id: Set(room_id),
            user_id: Set(*u),
            permission: Set(p.as_str().to_string()),
            ..Default::default()
        });
        room_permission::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                room_permission::Column::RoomId,
                room_permission::Column::UserId,
                room_permission::Column::Permission,
            ])
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Revokes each of `permissions` from each of `users` (revoking what is not held is a no-op).
pub async fn revoke<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    users: &[i64],
    permissions: &[Permission],
) -> Result<(), StoreError> {
    if users.is_empty() || permissions.is_empty() {
        return Ok(());
    }
    // The permissions are a handful of codenames; the users are the growing list.
    for chunk in chunks(users, 1) {
        room_permission::Entity::delete_many()
            .filter(room_permission::Column::RoomId.eq(room_id))
            .filter(room_permission::Column::UserId.is_in(chunk.iter().copied()))
            .filter(
                room_permission::Column::Permission.is_in(permissions.iter().map(|p| p.as_str())),
            )
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// `room.modify` `update`: applies what is given and refreshes `updated_at` even when nothing
/// else changes (rooms.md §12A.3). Returns the row as it is now, or `None` when the room is
/// gone.
pub async fn update<C: ConnectionTrait>(
    txn: &C,
    room_id: Uuid,
    update: &RoomUpdate,
) -> Result<Option<room::Model>, StoreError> {
    let mut row = room::ActiveModel {
        id: Unchanged(room_id),
        updated_at: Set(now()),
        ..Default::default()
    };
    if let Some(name) = &update.name {
        row.name = Set(Some(name.clone()));
    }
    if let Some(description) = &update.description {
        row.description = Set(Some(description.clone()));
    }
    if let Some(avatar) = &update.avatar {
        row.avatar = Set(Some(avatar.clone()));
    }
    if let Some(locked) = update.group_locked {
        row.group_locked = Set(locked);
    }
    if let Some(approval) = update.join_approval_required {
        row.join_approval_required = Set(approval);
    }
    if let Some(public) = update.is_public {
        row.is_public = Set(public);
    }
    if let Some(preferences) = &update.preferences {
        row.preferences = Set(preferences.clone());
    }
    let changed = room::Entity::update_many()
        .set(row)
        .filter(room::Column::Id.eq(room_id))
        .exec(txn)
        .await?;
    if changed.rows_affected == 0 {
        return Ok(None);
    }
    find(txn, room_id).await
}

/// Deletes a room with everything in it (messages, memberships, roles, permissions,
/// notifications: all cascade). Returns whether it existed.
pub async fn delete<C: ConnectionTrait>(txn: &C, room_id: Uuid) -> Result<bool, StoreError> {
    let deleted = room::Entity::delete_by_id(room_id).exec(txn).await?;
    Ok(deleted.rows_affected > 0)
}

fn users_in_order(by_id: &HashMap<i64, UserView>, ids: &BTreeSet<i64>) -> Vec<UserView> {
    ids.iter().filter_map(|id| by_id.get(id).cloned()).collect()
}

/// The room detail payload (rooms.md §5.2): membership and roles from `room` (the actor's
/// state after the change), everything else from `row`. Member arrays are ordered by user id
/// (DECISIONS 16).
pub async fn detail<C: ConnectionTrait>(
    db: &C,
    row: &room::Model,
    room: &Room,
) -> Result<RoomDetail, StoreError> {
    let mut ids: Vec<i64> = room.members.iter().chain(&room.managers).copied().collect();
    ids.extend(room.creator);
    ids.sort_unstable();
    ids.dedup();
    let by_id: HashMap<i64, UserView> = users::find_many(db, &ids)
        .await?
        .iter()
        .map(|u| (u.id, user_view(u)))
        .collect();
    let members = users_in_order(&by_id, &room.members);
    let managers = users_in_order(&by_id, &room.managers);
    let property = PropertyView {
        preferences: row.preferences.clone(),
    };
    let (created_at, updated_at) = (Timestamp(row.created_at), Timestamp(row.updated_at));
    let creator = || user_or_placeholder(&by_id, room.creator.unwrap_or_default());
    let name = row.name.clone().unwrap_or_default();
    let cap = row.max_members.unwrap_or_default();
    Ok(match room.kind {
        RoomKind::OneToOneChat => RoomDetail::OneToOne(OneToOneDetail {
            id: row.id,
            participants: members,
            property,
            created_at,
            updated_at,
            r#type: room.kind.as_str(),
        }),
        RoomKind::GroupChat => RoomDetail::Group(GroupDetail {
            id: row.id,
            creator: creator(),
            participants: members,
            property,
            admins: managers,
            created_at,
            updated_at,
            name,
            description: row.description.clone(),
            max_participants: cap,
            avatar: row.avatar.clone(),
            join_approval_required: row.join_approval_required,
            group_locked: row.group_locked,
            r#type: room.kind.as_str(),
        }),
        RoomKind::Channel => RoomDetail::Channel(ChannelDetail {
            id: row.id,
            creator: creator(),
            subscribers: members,
            property,
            moderators: managers,
            created_at,
            updated_at,
            name,
            description: row.description.clone(),
            is_public: row.is_public,
            avatar: row.avatar.clone(),
            max_subscribers: cap,
            r#type: room.kind.as_str(),
        }),
    })
}

/// Every room `user_id` is in, as list entries, most recently active first (DECISIONS 12).
/// A list spans many rooms, so it reads the database rather than asking each room's actor.
pub async fn list_for_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<RoomListEntry>, StoreError> {
    // The user may be in any number of rooms: they are selected by subqueries, never bound
    // as a list.
    let settled: HashMap<Uuid, i64> = room_member::Entity::find()
        .select_only()
        .column(room_member::Column::RoomId)
        .column(room_member::Column::Settled)
        .filter(room_member::Column::UserId.eq(user_id))
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    if settled.is_empty() {
        return Ok(Vec::new());
    }
    let theirs = || {
        Query::select()
            .column(room_member::Column::RoomId)
            .from(room_member::Entity)
            .and_where(room_member::Column::UserId.eq(user_id))
            .to_owned()
    };
    let rooms = room::Entity::find()
        .filter(room::Column::Id.in_subquery(theirs()))
        .all(db)
        .await?;
    // The other participant of each of their one-to-one chats.
    let their_pairs = Query::select()
        .column(room::Column::Id)
        .from(room::Entity)
        .and_where(room::Column::Id.in_subquery(theirs()))
        .and_where(room::Column::PairKey.is_not_null())
        .to_owned();
    let peers: HashMap<Uuid, i64> = room_member::Entity::find()
        .filter(room_member::Column::RoomId.in_subquery(their_pairs))
        .filter(room_member::Column::UserId.ne(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.room_id, m.user_id))
        .collect();
    let mut user_ids: Vec<i64> = peers.values().copied().collect();
    user_ids.extend(rooms.iter().filter_map(|r| r.creator_id));
    user_ids.sort_unstable();
    user_ids.dedup();
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

    let mut entries = Vec::new();
    for row in rooms {
        let kind = kind_of(&row)?;
        let last_message = row.last_message_id.and_then(|id| last.get(&id));
        let activity = last_message
            .map(|m| m.created_at.0)
            .unwrap_or(row.created_at);
        let last_message = match last_message {
            Some(m) => LastMessage::Message(Box::new(m.clone())),
            None => LastMessage::placeholder(),
        };
        let (created_at, updated_at) = (Timestamp(row.created_at), Timestamp(row.updated_at));
        let creator = || user_or_placeholder(&users, row.creator_id.unwrap_or_default());
        let unread_count = settled
            .get(&row.id)
            .map_or(0, |s| unread::unread(row.messages_posted, *s));
        let entry = match kind {
            RoomKind::OneToOneChat => {
                // A chat whose peer is gone (deleted meanwhile) is not listed.
                let Some(peer) = peers.get(&row.id).and_then(|p| users.get(p)) else {
                    continue;
                };
                RoomListEntry::OneToOne(OneToOneEntry {
                    id: row.id,
                    peer: peer.clone(),
                    last_message,
                    created_at,
                    updated_at,
                    r#type: kind.as_str(),
                    unread_count,
                })
            }
            RoomKind::GroupChat => RoomListEntry::Group(GroupEntry {
                id: row.id,
                creator: creator(),
                last_message,
                created_at,
                updated_at,
                name: row.name.clone().unwrap_or_default(),
                description: row.description.clone(),
                max_participants: row.max_members.unwrap_or_default(),
                avatar: row.avatar.clone(),
                join_approval_required: row.join_approval_required,
                group_locked: row.group_locked,
                r#type: kind.as_str(),
                unread_count,
            }),
            RoomKind::Channel => RoomListEntry::Channel(ChannelEntry {
                id: row.id,
                creator: creator(),
                last_message,
                created_at,
                updated_at,
                name: row.name.clone().unwrap_or_default(),
                description: row.description.clone(),
                is_public: row.is_public,
                avatar: row.avatar.clone(),
                max_subscribers: row.max_members.unwrap_or_default(),
                r#type: kind.as_str(),
                unread_count,
            }),
        };
        entries.push((activity, entry));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}
