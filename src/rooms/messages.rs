//! What a `RoomActor` is asked. Every answer comes from the room's current state, so a check
//! and what follows it in the same handler cannot be overtaken by a membership change.
//!
//! The changes (`Post`, `Join`, `Leave`, `AddMembers`, `RemoveMembers`, `Modify`) are each
//! checked against the state, written by the writer in a batch's transaction, applied to the
//! state after the commit, then fanned out in the room's commit order (`src/rooms/changes/`,
//! `super::actor`).

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::actor::Committed;
use super::room::{Action, Room};
use crate::protocol::client::RoomModify;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{Frame, MessageView, UserView};
use crate::store::messages::NewMessage;

/// Send an encoded dispatch to every connection of every current member: R(room).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Fanout {
    pub frame: Frame,
}

/// May `user_id` do `action` in this room (rooms.md §4.4)? `NotFound` once the room is gone.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct Authorize {
    pub user_id: i64,
    pub action: Action,
}

/// The room as its actor holds it now.
#[derive(Message, Clone)]
#[rtype(result = "Result<Room, ChatError>")]
pub struct Snapshot;

/// `message.send` after validation: checked against the room's state (a sender who may not
/// post here is answered at once, with the error [`Authorize`] would give; a send is the one
/// question its session asks), stored durably (in a batch's transaction, with its
/// notification for the other members), then fanned out. Posts to one room are queued with
/// the writer in order and fanned out in that order, so the room's dispatch order is its
/// commit order.
#[derive(Message, Clone)]
#[rtype(result = "Result<Committed<MessageView>, ChatError>")]
pub struct Post {
    pub message: NewMessage,
    /// Shared by the message's view, its dispatch and its notification: never copied.
    pub sender: Arc<UserView>,
}

/// A `message.send` its connection pipelines (`sessions.pipelined_sends`): queued exactly as
/// a [`Post`], but answered as soon as it is queued, with where its outcome will arrive (or
/// at once with the refusal of a sender who may not post here). One refused or failed after
/// it was queued is answered to the connection itself, through its outbox at the
/// moment the room takes its answer, so that its error frame sits between the dispatches of
/// the room's earlier and later sends exactly where the sender's events put it.
#[derive(Message, Clone)]
#[rtype(result = "Result<Queued, ChatError>")]
pub struct Pipelined {
    pub post: Post,
    pub connection_id: Uuid,
}

/// Where a queued send's outcome arrives, once it has been fanned out (or refused).
pub type Queued = oneshot::Receiver<Result<Committed<MessageView>, ChatError>>;

/// Lend the room to one borrower ([`super::lease`]): hand out the `Room` as it is now, then
/// handle nothing else until the borrower gives it back with the frames to fan out (or drops
/// the lease). The terms are shared so the registry can resend the message to a replacement
/// actor; whichever actor takes them first lends the room.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Lend {
    pub terms: std::sync::Arc<std::sync::Mutex<Option<LendTerms>>>,
}

pub struct LendTerms {
    /// The room now, or why it cannot be lent (`NotFound` once deleted).
    pub grant: tokio::sync::oneshot::Sender<Result<Room, ChatError>>,
    /// What to fan out when the borrower is done; a dropped sender means nothing.
    pub give_back: tokio::sync::oneshot::Receiver<Vec<Frame>>,
}

/// `message.typing`: if `user_id` may post here, send `frame` to the connections of every
/// member except the typist (none of the typist's devices, DECISIONS 23).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct Typing {
    pub user_id: i64,
    pub frame: Frame,
}

/// A user with this id was just created: if this room still counts them in (a user deleted
/// behind the server's back who came back), reload the room before anything else.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct UserCreated {
    pub user_id: i64,
}

/// `room.join` (rooms.md §9).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct Join {
    pub user: UserView,
}

/// `room.leave` (rooms.md §10).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct Leave {
    pub user: UserView,
}

/// `room.add_members` (rooms.md §11). `members` as decoded: its errors are reported after
/// the gate.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct AddMembers {
    pub by: UserView,
    pub members: Result<Vec<Option<i64>>, ChatError>,
}

/// `room.remove_members` (rooms.md §12).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct RemoveMembers {
    pub by: UserView,
    pub members: Result<Vec<Option<i64>>, ChatError>,
}

/// `room.modify`, any of its eight actions (rooms.md §12A); validated after the gate against
/// the room's type.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), ChatError>")]
pub struct Modify {
    pub by: UserView,
    pub request: RoomModify,
}
