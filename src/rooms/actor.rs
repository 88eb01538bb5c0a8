//! `RoomActor`: the authority for one room while it runs. It owns the room's [`Room`] state
//! (membership, roles, permissions, lock), answers every authorisation question from it,
//! serialises every change to it (check → one transaction → commit → apply → fan out), and
//! fans the room's dispatches out to its members.
//!
//! It loads its own state from the database as its first act (messages wait until then), and
//! reloads it when its supervisor restarts it, so after any restart it agrees with the
//! database again. A write that finds a row it relied on gone (the room, or a member, deleted
//! by another process: `chatd users delete`) reloads the state and is tried once more; a room
//! found gone makes the actor answer `NotFound` and leave the registry.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::changes::{After, Audience, Dispatch, Outcome, Write, WriteError};
use super::messages::{
    AddMembers, Authorize, Fanout, Join, Leave, Lend, Modify, Post, RemoveMembers, Snapshot,
    Typing, UserCreated,
};
use super::registry::Registration;
use super::room::{Action, Room};
use crate::notifications::Notices;
use crate::presence::Deliver;
use crate::protocol::errors::ChatError;
use crate::protocol::server::MessageView;
use crate::store;

enum State {
    /// Until the first load completes (no message is handled meanwhile).
    Loading,
    Live(Room),
    /// Deleted (found missing, or deleted through this actor): every question is answered
    /// `NotFound` until the last caller lets go of the actor, which then ends.
    Gone,
    /// The state could not be loaded: every question is answered 4006; the registry starts a
    /// fresh actor (and load) for the next caller.
    Unavailable,
}

pub struct RoomActor {
    id: Uuid,
    state: State,
    db: DatabaseConnection,
    delivery: Arc<dyn Deliver>,
    /// Told about the notifications a committed change created (push).
    notices: Notices,
    registration: Registration,
    mailbox: usize,
}

impl RoomActor {
    pub(super) fn new(
        id: Uuid,
        db: DatabaseConnection,
        delivery: Arc<dyn Deliver>,
        notices: Notices,
        registration: Registration,
        mailbox: usize,
    ) -> Self {
        RoomActor {
            id,
            state: State::Loading,
            db,
            delivery,
            notices,
            registration,
            mailbox,
        }
    }

    fn room(&self) -> Result<&Room, ChatError> {
        match &self.state {
            State::Live(room) => Ok(room),
            State::Loading | State::Gone => Err(ChatError::NotFound),
            State::Unavailable => Err(ChatError::Internal),
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let (db, id) = (self.db.clone(), self.id);
        ctx.wait(
            async move { store::rooms::load(&db, id).await }
                .into_actor(self)
                .map(move |loaded, act, ctx| match loaded {
                    Ok(Some(room)) => act.state = State::Live(room),
                    Ok(None) => act.settle(After::Deleted, ctx),
                    Err(e) => {
                        log::error!("room {id}: cannot load its state: {e}");
                        act.state = State::Unavailable;
                        act.registration.forget(id, &ctx.address());
                    }
                }),
        );
    }

    /// Makes the state what a committed change (or a reload) says it is.
    fn settle(&mut self, after: After, ctx: &mut Context<Self>) {
        match after {
            After::Unchanged => {}
            After::Changed(room) => self.state = State::Live(room),
            After::Deleted => {
                self.state = State::Gone;
                self.registration.forget(self.id, &ctx.address());
            }
        }
    }

    fn deliver(&self, dispatch: Dispatch) {
        match dispatch.to {
            Audience::Members => {
                if let State::Live(room) = &self.state {
                    self.delivery
                        .to_users(&mut room.members.iter().copied(), &dispatch.frame);
                }
            }
            Audience::Users(users) => self
                .delivery
                .to_users(&mut users.into_iter(), &dispatch.frame),
        }
    }

    /// Runs one change: checked against the state and written in one transaction; once it
    /// has committed, the state is updated and the dispatches go out. Nothing else is handled
    /// by this actor meanwhile, so the state a change was checked against is the state it
    /// changes, and the room's dispatch order is its commit order.
    fn run<M>(&mut self, msg: M) -> AtomicResponse<Self, Result<M::Answer, ChatError>>
    where
        M: Write + 'static,
        M::Answer: 'static,
    {
        AtomicResponse::new(Box::pin(
            self.change(msg)
                .map(|result, _act, _ctx| result.map(|committed| committed.answer)),
        ))
    }

    /// [`RoomActor::run`]'s future, answering with the instant the change committed too.
    fn change<M>(
        &mut self,
        msg: M,
    ) -> ResponseActFuture<Self, Result<Committed<M::Answer>, ChatError>>
    where
        M: Write + 'static,
        M::Answer: 'static,
    {
        let (db, id) = (self.db.clone(), self.id);
        let current = self.room().cloned();
        Box::pin(
            async move {
                let mut room = match current {
                    Ok(room) => room,
                    Err(e) => return (None, Err(e)),
                };
                // The state found on reload, when the first attempt met a vanished row.
                let mut reloaded: Option<After> = None;
                loop {
                    match attempt(&db, &room, &msg).await {
                        Err(WriteError::Stale) if reloaded.is_none() => {
                            match store::rooms::load(&db, id).await {
                                Ok(Some(fresh)) => {
                                    reloaded = Some(After::Changed(fresh.clone()));
                                    room = fresh;
                                }
                                Ok(None) => {
                                    return (Some(After::Deleted), Err(ChatError::NotFound))
                                }
                                Err(e) => return (None, Err(e.into())),
                            }
                        }
                        result => return (reloaded, result.map_err(ChatError::from)),
                    }
                }
            }
            .into_actor(self)
            .map(|(reloaded, result), act, ctx| {
                if let Some(state) = reloaded {
                    act.settle(state, ctx);
                }
                let (outcome, at) = result?;
                act.settle(outcome.after, ctx);
                for dispatch in outcome.dispatches {
                    act.deliver(dispatch);
                }
                // After the commit and the fan-out; never waits (a full mailbox drops it).
                if let Some(created) = outcome.notice {
                    act.notices.created(created);
                }
                Ok(Committed {
                    answer: outcome.answer,
                    at,
                })
            }),
        )
    }
}

/// A change's answer, and when its transaction committed (for latency metrics).
pub struct Committed<T> {
    pub answer: T,
    pub at: Instant,
}

/// One try of a change, in a transaction of its own (rolled back if it is dropped); with the
/// instant it committed.
async fn attempt<M: Write>(
    db: &DatabaseConnection,
    room: &Room,
    msg: &M,
) -> Result<(Outcome<M::Answer>, Instant), WriteError> {
    let txn = db.begin().await?;
    let outcome = msg.write(&txn, room).await?;
    txn.commit().await?;
    Ok((outcome, Instant::now()))
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
        self.load(ctx);
    }
}

/// Restarted by its supervisor, the actor reloads its room from the database.
impl Supervised for RoomActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("room {} actor restarting", self.id);
        self.state = State::Loading;
    }
}

impl Handler<Fanout> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Fanout, _ctx: &mut Self::Context) {
        self.deliver(Dispatch {
            to: Audience::Members,
            frame: msg.frame,
        });
    }
}

impl Handler<Authorize> for RoomActor {
    type Result = Result<(), ChatError>;

    fn handle(&mut self, msg: Authorize, _ctx: &mut Self::Context) -> Self::Result {
        self.room()?.authorize(msg.user_id, msg.action)
    }
}

impl Handler<Snapshot> for RoomActor {
    type Result = Result<Room, ChatError>;

    fn handle(&mut self, _msg: Snapshot, _ctx: &mut Self::Context) -> Self::Result {
        self.room().cloned()
    }
}

impl Handler<UserCreated> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: UserCreated, ctx: &mut Self::Context) {
        let stale = self.room().is_ok_and(|room| {
            room.is_member(msg.user_id)
                || room.is_manager(msg.user_id)
                || room.permissions.iter().any(|(u, _)| *u == msg.user_id)
        });
        if stale {
            log::info!(
                "room {}: user {} was deleted behind the server's back; reloading",
                self.id,
                msg.user_id
            );
            // Every later message waits for the reload.
            self.load(ctx);
        }
    }
}

impl Handler<Post> for RoomActor {
    type Result = AtomicResponse<Self, Result<Committed<MessageView>, ChatError>>;

    fn handle(&mut self, msg: Post, _ctx: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(self.change(msg))
    }
}

impl Handler<Lend> for RoomActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Lend, _ctx: &mut Self::Context) -> Self::Result {
        let terms = msg.terms.lock().unwrap_or_else(|p| p.into_inner()).take();
        let lent = terms.and_then(|terms| {
            let room = self.room().cloned();
            let granted = room.is_ok();
            // A borrower that has stopped waiting takes nothing; nor does a refused one.
            (terms.grant.send(room).is_ok() && granted).then_some(terms.give_back)
        });
        AtomicResponse::new(Box::pin(
            async move {
                match lent {
                    Some(give_back) => give_back.await.unwrap_or_default(),
                    None => Vec::new(),
                }
            }
            .into_actor(self)
            .map(|frames, act, _ctx| {
                for frame in frames {
                    act.deliver(Dispatch {
                        to: Audience::Members,
                        frame,
                    });
                }
            }),
        ))
    }
}

impl Handler<Typing> for RoomActor {
    type Result = Result<(), ChatError>;

    fn handle(&mut self, msg: Typing, _ctx: &mut Self::Context) -> Self::Result {
        let room = self.room()?;
        room.authorize(msg.user_id, Action::Post)?;
        self.delivery.to_users(
            &mut room.members.iter().copied().filter(|u| *u != msg.user_id),
            &msg.frame,
        );
        Ok(())
    }
}

/// The membership, role, lock and delete changes: each is a [`Write`] run by [`RoomActor::run`].
macro_rules! changes {
    ($($msg:ty),*) => {$(
        impl Handler<$msg> for RoomActor {
            type Result = AtomicResponse<Self, Result<(), ChatError>>;

            fn handle(&mut self, msg: $msg, _ctx: &mut Self::Context) -> Self::Result {
                self.run(msg)
            }
        }
    )*};
}

changes!(Join, Leave, AddMembers, RemoveMembers, Modify);
