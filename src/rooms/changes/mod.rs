//! What each change to a room does, as the room's actor runs it: check against the actor's
//! state, write in the transaction it is given (the writer's batch, `crate::store::writer`),
//! and say what the state becomes and who is told what once that has committed
//! ([`Outcome`]). The actor (`super::actor`) orders them per room and does the applying and
//! telling.
//!
//! Audiences follow rooms.md §1.6: a detail always shows the state after the change, R(room)
//! is computed from that state, and whoever left or was removed gets only their own frame.

mod add_members;
mod join;
mod leave;
mod modify;
mod post;
mod remove_members;

use entity::room;
use sea_orm::{DatabaseTransaction, DbErr};

use super::room::{Action, Room};
use crate::notifications::Created;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, RoomDeleted, RoomDetail};
use crate::store::{self, StoreError};

/// One change to a room, written by its actor.
pub(crate) trait Write {
    type Answer;

    /// Checks the change against `room` (the actor's state) and writes it in `txn`. Nothing
    /// is told to anyone here: the actor does that after the commit.
    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<Self::Answer>, WriteError>;

    /// A change that is one new message without attachments gives it here, when `room`
    /// allows it, to be written with others of its batch (`store::writer::Job::message`);
    /// anything else (the default) is written by [`Write::write`].
    fn planned(&self, _room: &Room) -> Option<store::messages::Planned> {
        None
    }

    /// What [`Write::planned`]'s message became once written.
    fn written(
        &self,
        _room: &Room,
        _stored: store::messages::Written,
    ) -> Result<Outcome<Self::Answer>, WriteError> {
        Err(ChatError::internal("room write", "written without a planned message").into())
    }
}

/// What a committed change means for the actor.
pub(crate) struct Outcome<T> {
    pub after: After,
    pub dispatches: Vec<Dispatch>,
    pub answer: T,
    /// A notification the change created, for the `NotificationActor` once committed.
    pub notice: Option<Created>,
}

pub(crate) enum After {
    Unchanged,
    Changed(Room),
    /// The room no longer exists.
    Deleted,
}

pub(crate) struct Dispatch {
    pub to: Audience,
    pub frame: Frame,
}

pub(crate) enum Audience {
    /// R(room): every member of the room as the change left it.
    Members,
    /// Every connection of these users (U(u) for each).
    Users(Vec<i64>),
}

impl Dispatch {
    fn to_members(frame: Frame) -> Dispatch {
        Dispatch {
            to: Audience::Members,
            frame,
        }
    }

    fn to_users(users: Vec<i64>, frame: Frame) -> Dispatch {
        Dispatch {
            to: Audience::Users(users),
            frame,
        }
    }
}

/// Why a write did not happen.
pub(crate) enum WriteError {
    /// The answer for the client.
    Refused(ChatError),
    /// A row the actor's state relies on is gone (the room, or a member, deleted by another
    /// process such as `chatd users delete`): the actor reloads its state and tries once more.
    Stale,
    Store(StoreError),
}

impl From<ChatError> for WriteError {
    fn from(err: ChatError) -> Self {
        WriteError::Refused(err)
    }
}

impl From<StoreError> for WriteError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::MissingReference(e) => {
                log::info!("a room write found a row gone: {e}");
                WriteError::Stale
            }
            other => WriteError::Store(other),
        }
    }
}

impl From<DbErr> for WriteError {
    fn from(err: DbErr) -> Self {
        StoreError::from(err).into()
    }
}

impl From<WriteError> for ChatError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Refused(e) => e,
            WriteError::Stale => ChatError::NotFound,
            WriteError::Store(e) => e.into(),
        }
    }
}

/// The room's row, read in the change's transaction (after its writes).
async fn row_of(txn: &DatabaseTransaction, room: &Room) -> Result<room::Model, WriteError> {
    store::rooms::find(txn, room.id)
        .await?
        .ok_or(WriteError::Stale)
}

/// The detail of `after`, as the change's transaction sees the room.
async fn detail_of(txn: &DatabaseTransaction, after: &Room) -> Result<RoomDetail, WriteError> {
    let row = row_of(txn, after).await?;
    Ok(store::rooms::detail(txn, &row, after).await?)
}

/// Deletes the room; `roomdelete.dispatch` goes to `told`.
async fn delete(
    txn: &DatabaseTransaction,
    room: &Room,
    told: Vec<i64>,
) -> Result<Outcome<()>, WriteError> {
    if !store::rooms::delete(txn, room.id).await? {
        return Err(WriteError::Stale);
    }
    let frame = routed(event::ROOM_DELETE, &RoomDeleted { room_id: room.id });
    Ok(Outcome {
        after: After::Deleted,
        dispatches: vec![Dispatch::to_users(told, frame)],
        answer: (),
        notice: None,
    })
}

/// The gate of `room.add_members` / `room.remove_members`, then their member list (rooms.md
/// §11.2 rows 6–9): the distinct ids in request order, every one of them a user (an entry that
/// cannot be a user id is an unknown user).
async fn members_after_gate(
    txn: &DatabaseTransaction,
    room: &Room,
    by: i64,
    action: Action,
    members: &Result<Vec<Option<i64>>, ChatError>,
) -> Result<Vec<i64>, WriteError> {
    room.authorize(by, action)?;
    let mut ids: Vec<i64> = Vec::new();
    for m in members.as_ref().map_err(Clone::clone)? {
        let id = m.ok_or(ChatError::NotFound)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if store::users::find_many(txn, &ids).await?.len() != ids.len() {
        return Err(ChatError::NotFound.into());
    }
    Ok(ids)
}

/// The usernames of `ids` (which all exist: checked before), in order.
async fn usernames(txn: &DatabaseTransaction, ids: &[i64]) -> Result<Vec<String>, WriteError> {
    let users = store::users::find_many(txn, ids).await?;
    Ok(ids
        .iter()
        .filter_map(|id| users.iter().find(|u| u.id == *id))
        .map(|u| u.username.clone())
        .collect())
}
