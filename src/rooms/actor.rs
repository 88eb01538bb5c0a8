//! `RoomActor`: the in-memory authority for one room's membership and the place its
//! dispatches are fanned out from. The database stays the source of truth: the registry loads
//! the actor from it, and every event that changes membership must tell the actor after its
//! transaction commits.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::prelude::*;
use uuid::Uuid;

use super::messages::{CanPost, Fanout};
use crate::presence::Deliver;
use crate::protocol::client::RoomKind;

/// What the actor knows about its room.
#[derive(Debug, Clone)]
pub struct RoomState {
    pub id: Uuid,
    pub kind: RoomKind,
    /// Member user ids, ascending.
    pub members: BTreeSet<i64>,
}

pub struct RoomActor {
    state: RoomState,
    delivery: Arc<dyn Deliver>,
    mailbox: usize,
}

impl RoomActor {
    pub fn new(state: RoomState, delivery: Arc<dyn Deliver>, mailbox: usize) -> Self {
        RoomActor {
            state,
            delivery,
            mailbox,
        }
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

/// Restarted by its supervisor after a stop, it keeps the state it had: membership changes
/// reach it as messages, so nothing was lost.
impl Supervised for RoomActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("room {} actor restarting", self.state.id);
    }
}

impl Handler<Fanout> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Fanout, _ctx: &mut Self::Context) {
        self.delivery
            .to_users(&mut self.state.members.iter().copied(), &msg.frame);
    }
}

impl Handler<CanPost> for RoomActor {
    type Result = bool;

    fn handle(&mut self, msg: CanPost, _ctx: &mut Self::Context) -> bool {
        match self.state.kind {
            RoomKind::OneToOneChat => self.state.members.contains(&msg.user_id),
            // Group and channel posting rules arrive with their roles (rooms.md §4.4).
            RoomKind::GroupChat | RoomKind::Channel => false,
        }
    }
}
