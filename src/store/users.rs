//! Users mirrored from token claims.

use entity::{room, room_member, user};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{chunks, notifications, now, unread, StoreError};
use crate::auth::Identity;
use crate::rooms::room::RoomKind;

/// Creates the user on first sight; afterwards updates whichever profile claims the token
/// carries. A user without a `username` claim is called `user<id>`. Returns the user and
/// whether this call created it. The user is looked up through `reads` (on SQLite a reader,
/// so that a connect whose profile is unchanged, the usual one, uses no turn of the one
/// write connection); it is written, when it must be, through `db`.
pub async fn upsert_from_identity<R: ConnectionTrait, C: ConnectionTrait>(
    reads: &R,
    db: &C,
    who: &Identity,
) -> Result<(user::Model, bool), StoreError> {
    let existing = user::Entity::find_by_id(who.user_id).one(reads).await?;
    let Some(existing) = existing else {
        let at = now();
        let model = user::ActiveModel {
            id: Set(who.user_id),
            username: Set(who
                .username
                .clone()
                .unwrap_or_else(|| format!("user{}", who.user_id))),
            email: Set(who.email.clone().unwrap_or_default()),
            first_name: Set(who.first_name.clone().unwrap_or_default()),
            last_name: Set(who.last_name.clone().unwrap_or_default()),
            created_at: Set(at),
            updated_at: Set(at),
        };
        return match model.insert(db).await {
            Ok(m) => Ok((m, true)),
            // Two first connections of one user raced; the other one inserted it.
            Err(e) if e.sql_err().is_some() => user::Entity::find_by_id(who.user_id)
                .one(db)
                .await?
                .map(|m| (m, false))
                .ok_or(StoreError::Db(e)),
            Err(e) => Err(e.into()),
        };
    };
    let mut changed = existing.clone();
    let claims = [
        (&mut changed.username, &who.username),
        (&mut changed.email, &who.email),
        (&mut changed.first_name, &who.first_name),
        (&mut changed.last_name, &who.last_name),
    ];
    for (field, claim) in claims {
        if let Some(value) = claim {
            field.clone_from(value);
        }
    }
    if changed == existing {
        return Ok((existing, false));
    }
    let mut active: user::ActiveModel = existing.into();
    active.username = Set(changed.username);
    active.email = Set(changed.email);
    active.first_name = Set(changed.first_name);
    active.last_name = Set(changed.last_name);
    active.updated_at = Set(now());
    Ok((active.update(db).await?, false))
}

pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<Vec<user::Model>, StoreError> {
    let mut found = Vec::new();
    for chunk in chunks(ids, 1) {
        found.extend(
            user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    found.sort_unstable_by_key(|u| u.id);
    found.dedup_by_key(|u| u.id);
    Ok(found)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<user::Model>, StoreError> {
    Ok(user::Entity::find()
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?)
}

/// Deletes a user with everything that is theirs. Their one-to-one rooms go too (rooms.md
/// §3.8); rooms they created go by the `creator_id` cascade. Returns whether the user existed.
/// Run it in a transaction: the rooms and the user go together.
pub async fn delete<C: ConnectionTrait>(txn: &C, user_id: i64) -> Result<bool, StoreError> {
    // Their messages go by the cascade: they stop counting as unread for everyone else.
    unread::forget_sender(txn, user_id).await?;
    // Their memberships go by the cascade: they stop being owed notifications (those nobody
    // else is owed are deleted).
    notifications::drop_for_user(txn, user_id).await?;
    let their_rooms = Query::select()
        .column(room_member::Column::RoomId)
        .from(room_member::Entity)
        .and_where(room_member::Column::UserId.eq(user_id))
        .to_owned();
    room::Entity::delete_many()
        .filter(room::Column::RoomType.eq(RoomKind::OneToOneChat.as_str()))
        .filter(room::Column::Id.in_subquery(their_rooms))
        .exec(txn)
        .await?;
    let deleted = user::Entity::delete_by_id(user_id).exec(txn).await?;
    Ok(deleted.rows_affected > 0)
}
