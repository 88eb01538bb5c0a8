//! Borrowing rooms for a change that nothing else in those rooms may interleave with.
//!
//! A [`Lease`] holds a room's actor: the actor hands out its current [`Room`] and handles
//! nothing else — no leave, no other change, no fan-out — until the lease is given back with
//! the frames to fan out, or dropped. A change checked against the lent state and committed
//! while the lease is held therefore cannot be overtaken by a leave, and its dispatch goes out
//! in the room's commit order. This is how message changes that are not sends (edits, deletes,
//! reactions, read receipts) keep the guarantees `Post` gives sends, including a bulk read
//! that spans several rooms in one transaction.
//!
//! Deadlock freedom: several rooms are borrowed one at a time in ascending id order, and a
//! lending actor never waits on another actor, so no two borrowers wait on each other in a
//! cycle. A borrower that fails or is cancelled drops its leases, which returns the rooms.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::messages::{Lend, LendTerms};
use super::room::Room;
use super::RoomRegistry;
use crate::protocol::errors::ChatError;
use crate::protocol::server::Frame;

/// One borrowed room. Dropping it returns the room with nothing to fan out.
pub struct Lease {
    room: Room,
    give_back: oneshot::Sender<Vec<Frame>>,
    /// The lend itself, which the actor answers once it has fanned out what it got back.
    lent: tokio::task::JoinHandle<Result<(), ChatError>>,
}

impl Lease {
    /// The room as its actor holds it, unchanged for as long as the lease is held.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Returns the room to its actor, which sends `frames` to every member's connections
    /// (R(room), from the state the lease saw) before it handles anything else, and waits
    /// until it has: the frames are then queued on every connection, the borrower's own
    /// included, before its event counts as done (messages.md §1.5: all frames of one event
    /// go out before the connection's next event is processed).
    pub async fn give_back(self, frames: Vec<Frame>) {
        // A closed channel means the actor is gone; its members are told nothing either way.
        if self.give_back.send(frames).is_ok() {
            let _ = self.lent.await;
        }
    }
}

/// Borrows one room; `NotFound` if it does not exist (or was deleted meanwhile).
pub async fn borrow(registry: &Arc<RoomRegistry>, room_id: Uuid) -> Result<Lease, ChatError> {
    let (grant, granted) = oneshot::channel();
    let (give_back, given_back) = oneshot::channel();
    let lend = Lend {
        terms: Arc::new(Mutex::new(Some(LendTerms {
            grant,
            give_back: given_back,
        }))),
    };
    // The call runs on its own until the actor answers, i.e. until the room is given back: it
    // keeps the actor marked in use (never retired while lent) and resends to a replacement
    // actor if the first one is found dead.
    let registry = registry.clone();
    let call = actix_rt::spawn(async move { registry.call(room_id, lend).await });
    match granted.await {
        Ok(Ok(room)) => Ok(Lease {
            room,
            give_back,
            lent: call,
        }),
        Ok(Err(refused)) => Err(refused),
        // The terms were dropped unread: the call itself failed (no such room, or no actor).
        Err(_) => match call.await {
            Ok(Err(failed)) => Err(failed),
            Ok(Ok(())) => Err(ChatError::internal("room lease", "lent nothing")),
            Err(e) => Err(ChatError::internal("room lease", e)),
        },
    }
}

/// Borrows every room in `room_ids`, in ascending id order (see the module's note on
/// deadlocks). On failure the rooms borrowed so far are returned at once.
pub async fn borrow_all(
    registry: &Arc<RoomRegistry>,
    room_ids: impl IntoIterator<Item = Uuid>,
) -> Result<BTreeMap<Uuid, Lease>, ChatError> {
    let mut leases = BTreeMap::new();
    let ordered: std::collections::BTreeSet<Uuid> = room_ids.into_iter().collect();
    for room_id in ordered {
        leases.insert(room_id, borrow(registry, room_id).await?);
    }
    Ok(leases)
}
