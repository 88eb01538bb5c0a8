//! What each change to a room does, as the room's actor runs it: check against the actor's
//! state, write in the one transaction the actor owns, and say what the state becomes and
//! who is told what once the transaction has committed ([`Outcome`]). The actor
//! (`super::actor`) runs them one at a time per room and does the applying and telling.
//!
//! Audiences follow rooms.md §1.6: a detail always shows the state after the change, R(room)
//! is computed from that state, and whoever left or was removed gets only their own frame.

mod post;

use sea_orm::{DatabaseTransaction, DbErr};

use super::room::Room;
use crate::protocol::errors::ChatError;
use crate::protocol::server::Frame;
use crate::store::StoreError;

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
}

/// What a committed change means for the actor.
pub(crate) struct Outcome<T> {
    pub after: After,
    pub dispatches: Vec<Dispatch>,
    pub answer: T,
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
}

impl Dispatch {
    fn to_members(frame: Frame) -> Dispatch {
        Dispatch {
            to: Audience::Members,
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
