//! `RoomActor`: the authority for one room while it runs. It owns the room's [`Room`] state
//! (membership, roles, permissions, lock), answers every authorisation question from it,
//! orders every change to it, and fans the room's dispatches out to its members.
//!
//! Writes go through the writer ([`crate::store::writer`]), which commits the jobs of many
//! rooms in one transaction; a change is answered, applied and fanned out only once its batch
//! committed. The writer commits jobs in the order they were queued, and the actor hands
//! them over in the order it handles them, so the room's dispatch order is its commit order.
//!
//! - A send (`Post`) changes no room state, so the actor does not wait for it: it checks the
//!   send against the state now, queues it and goes on with the next message. Several sends of
//!   one room can thus share a batch. Their answers are taken strictly in order
//!   ([`Drain`]): a send is fanned out once every earlier write of the room has been. A send
//!   its connection pipelines ([`Pipelined`]) is queued the same way but answered as soon as
//!   it is queued; if it is then refused or fails, its error frame is queued on that
//!   connection when its answer is taken, so it keeps its place among the room's dispatches.
//! - Every other change (join, leave, add/remove members, modify) and a lease
//!   ([`super::lease`]) is a barrier: it first waits until every queued send of the room has
//!   landed and been fanned out, then runs alone (nothing else is handled meanwhile), so it
//!   is checked against the state after every earlier change, and the sends after it against
//!   the state it leaves.
//!
//! It loads its own state from the database as its first act (messages wait until then), and
//! reloads it when its supervisor restarts it, so after any restart it agrees with the
//! database again. A write that finds a row it relied on gone (the room, or a member, deleted
//! by another process: `chatd users delete`) re-reads the state and is tried once more
//! (`super::job`); a room found gone makes the actor answer `NotFound` and leave the registry.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::changes::{After, Audience, Dispatch, Write};
use super::job::{Landed, WriteJob};
use super::messages::{
    AddMembers, Authorize, Fanout, Join, Leave, Lend, Modify, Pipelined, Post, Queued,
    RemoveMembers, Snapshot, Typing, UserCreated,
};
use super::registry::Registration;
use super::room::{Action, Room};
use crate::notifications::Notices;
use crate::presence::Deliver;
use crate::protocol::errors::ChatError;
use crate::protocol::server::MessageView;
use crate::store;
use crate::store::writer::Writer;

enum State {
    /// Until the first load completes (no message is handled meanwhile).
    Loading,
    /// Shared with the write jobs checked against it: a send's job holds the room as the
    /// actor saw it without copying its member sets, and a change replaces the whole value.
    Live(Arc<Room>),
    /// Deleted (found missing, or deleted through this actor): every question is answered
    /// `NotFound` until the last caller lets go of the actor, which then ends.
    Gone,
    /// The state could not be loaded: every question is answered 4006; the registry starts a
    /// fresh actor (and load) for the next caller.
    Unavailable,
}

/// A send handed to the writer whose answer has not been taken yet.
struct InFlight {
    landed: oneshot::Receiver<Landed<MessageView>>,
    answer: oneshot::Sender<Result<Committed<MessageView>, ChatError>>,
    /// The connection of a pipelined send (user, connection): told of its error in room order.
    errors_to: Option<(i64, Uuid)>,
}

/// What a room actor needs besides its id: where it reads, writes, delivers and reports.
#[derive(Clone)]
pub(super) struct Wiring {
    /// Reads outside a write (loading the room).
    pub reader: DatabaseConnection,
    pub writer: Writer,
    pub delivery: Arc<dyn Deliver>,
    /// Told about the notifications a committed change created (push).
    pub notices: Notices,
    pub mailbox: usize,
}

pub struct RoomActor {
    id: Uuid,
    state: State,
    wiring: Wiring,
    registration: Registration,
    /// Sends queued with the writer, in the order they were queued (their commit order).
    in_flight: VecDeque<InFlight>,
    /// Whether a [`Drain`] is spawned to take the answers of `in_flight` as they land.
    pumping: bool,
}

impl RoomActor {
    pub(super) fn new(id: Uuid, wiring: Wiring, registration: Registration) -> Self {
        RoomActor {
            id,
            state: State::Loading,
            wiring,
            registration,
            in_flight: VecDeque::new(),
            pumping: false,
        }
    }

    fn room(&self) -> Result<&Arc<Room>, ChatError> {
        match &self.state {
            State::Live(room) => Ok(room),
            State::Loading | State::Gone => Err(ChatError::NotFound),
            State::Unavailable => Err(ChatError::Internal),
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let (db, id) = (self.wiring.reader.clone(), self.id);
        ctx.wait(
            async move { store::rooms::load(&db, id).await }
                .into_actor(self)
                .map(move |loaded, act, ctx| match loaded {
                    Ok(Some(room)) => act.state = State::Live(Arc::new(room)),
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
            After::Changed(room) => self.state = State::Live(Arc::new(room)),
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
                    self.wiring
                        .delivery
                        .to_users(&mut room.members.iter().copied(), &dispatch.frame);
                }
            }
            Audience::Users(users) => self
                .wiring
                .delivery
                .to_users(&mut users.into_iter(), &dispatch.frame),
        }
    }

    /// Takes a landed change in: adopts a reloaded state, and once committed applies it to the
    /// state, fans its dispatches out and tells the `NotificationActor`.
    fn apply<T>(
        &mut self,
        landed: Result<Landed<T>, oneshot::error::RecvError>,
        ctx: &mut Context<Self>,
    ) -> Result<Committed<T>, ChatError> {
        let Landed { reloaded, result } =
            landed.map_err(|_| ChatError::internal("room write", "the writer dropped it"))?;
        if let Some(state) = reloaded {
            self.settle(state, ctx);
        }
        let (outcome, at) = result?;
        self.settle(outcome.after, ctx);
        for dispatch in outcome.dispatches {
            self.deliver(dispatch);
        }
        // After the commit and the fan-out; never waits (a full mailbox drops it).
        if let Some(created) = outcome.notice {
            self.wiring.notices.created(created);
        }
        Ok(Committed {
            answer: outcome.answer,
            at,
        })
    }

    /// Runs a barrier change: once every queued send has been fanned out, the change is
    /// checked against the state, written by the writer, and applied once its batch
    /// committed; nothing else is handled by this actor meanwhile.
    fn run<M>(&mut self, msg: M) -> AtomicResponse<Self, Result<M::Answer, ChatError>>
    where
        M: Write + Send + 'static,
        M::Answer: Send + 'static,
    {
        AtomicResponse::new(Box::pin(Drain { pump: false }.then(
            move |(), act: &mut Self, _ctx| {
                let writer = act.wiring.writer.clone();
                let job = act.room().cloned().map(|room| WriteJob::new(msg, room));
                async move {
                    let (job, landed) = job?;
                    writer.submit(job).await;
                    Ok(landed.await)
                }
                .into_actor(act)
                .map(|landed, act, ctx| {
                    landed.and_then(|landed| act.apply(landed, ctx).map(|c| c.answer))
                })
            },
        )))
    }
}

/// Takes the answers of the room's queued sends as they land, strictly in queue order: each
/// one is applied and fanned out, then its sender answered. Ends when none is left. Polled as
/// the actor's own future (all of an actor's futures share one task and waker), so the pump
/// and a barrier can both take from the queue.
struct Drain {
    /// The spawned pump, which clears `RoomActor::pumping` when it ends.
    pump: bool,
}

impl ActorFuture<RoomActor> for Drain {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut RoomActor,
        ctx: &mut Context<RoomActor>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        while let Some(front) = act.in_flight.front_mut() {
            let Poll::Ready(landed) = Pin::new(&mut front.landed).poll(task) else {
                return Poll::Pending;
            };
            if let Some(post) = act.in_flight.pop_front() {
                let answer = act.apply(landed, ctx);
                if let (Err(err), Some((user, conn))) = (&answer, post.errors_to) {
                    // Before any later send of the room is fanned out.
                    let frame = err.to_frame_text().into();
                    act.wiring.delivery.to_connection(user, conn, &frame);
                }
                // A caller that stopped waiting needs no answer.
                let _ = post.answer.send(answer);
            }
        }
        if self.pump {
            act.pumping = false;
        }
        Poll::Ready(())
    }
}

/// A change's answer, and when its transaction committed (for latency metrics).
pub struct Committed<T> {
    pub answer: T,
    pub at: Instant,
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.wiring.mailbox);
        self.load(ctx);
        // After a restart: the sends queued before it are still answered, in order.
        if !self.in_flight.is_empty() && !self.pumping {
            self.pumping = true;
            ctx.spawn(Drain { pump: true });
        }
    }
}

/// Restarted by its supervisor, the actor reloads its room from the database.
impl Supervised for RoomActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("room {} actor restarting", self.id);
        self.state = State::Loading;
        // The pump was one of the futures the restart dropped.
        self.pumping = false;
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
        self.room().map(|room| Room::clone(room))
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

impl RoomActor {
    /// Queues a send with the writer and goes on: see the module's note. Its outcome arrives
    /// once it has landed and been fanned out, after every earlier send of the room. A sender
    /// who may not post here is refused at once, before anything is queued: its session asks
    /// no other question of this actor before a send that passed its own checks.
    fn queue(
        &mut self,
        msg: Post,
        errors_to: Option<(i64, Uuid)>,
        ctx: &mut Context<Self>,
    ) -> Result<Queued, ChatError> {
        let room = self.room()?;
        // The state the write is checked against again (`Write for Post`).
        room.authorize(msg.message.sender_id, Action::Post)?;
        let (job, landed) = WriteJob::new(msg, room.clone());
        // An earlier send still to be fanned out: this room's sends come faster than one
        // commit each, so this one joins the writer's next batch instead of committing alone
        // where it is handed over, even when the writer is idle and the pool's write
        // connection kept at hand (`database.sqlite_write_hold`).
        let writer = &self.wiring.writer;
        let handed = if self.in_flight.is_empty() {
            writer.try_submit(job)
        } else {
            writer.try_queue(job)
        };
        if let Err(job) = handed {
            // The writer's queue is full: this actor handles nothing more until it has room,
            // which keeps the room's writes in order and pushes back on its senders.
            let writer = self.wiring.writer.clone();
            ctx.wait(async move { writer.submit(job).await }.into_actor(self));
        }
        let (answer, answered) = oneshot::channel();
        self.in_flight.push_back(InFlight {
            landed,
            answer,
            errors_to,
        });
        if !self.pumping {
            self.pumping = true;
            ctx.spawn(Drain { pump: true });
        }
        Ok(answered)
    }
}

impl Handler<Post> for RoomActor {
    type Result = ResponseFuture<Result<Committed<MessageView>, ChatError>>;

    /// Its caller is answered once it has landed and been fanned out.
    fn handle(&mut self, msg: Post, ctx: &mut Self::Context) -> Self::Result {
        let queued = self.queue(msg, None, ctx);
        Box::pin(async move {
            queued?
                .await
                .unwrap_or_else(|_| Err(ChatError::internal("room actor", "ended before")))
        })
    }
}

impl Handler<Pipelined> for RoomActor {
    type Result = Result<Queued, ChatError>;

    /// Answered once queued; a refusal then goes to the connection in room order.
    fn handle(&mut self, msg: Pipelined, ctx: &mut Self::Context) -> Self::Result {
        let errors_to = (msg.post.message.sender_id, msg.connection_id);
        self.queue(msg.post, Some(errors_to), ctx)
    }
}

impl Handler<Lend> for RoomActor {
    type Result = AtomicResponse<Self, ()>;

    /// A barrier, like a change: the room is lent once every queued send has been fanned out.
    fn handle(&mut self, msg: Lend, _ctx: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(Box::pin(Drain { pump: false }.then(
            move |(), act: &mut Self, _ctx| {
                let terms = msg.terms.lock().unwrap_or_else(|p| p.into_inner()).take();
                let lent = terms.and_then(|terms| {
                    let room = act.room().map(|room| Room::clone(room));
                    let granted = room.is_ok();
                    // A borrower that has stopped waiting takes nothing; nor does a refused one.
                    (terms.grant.send(room).is_ok() && granted).then_some(terms.give_back)
                });
                async move {
                    match lent {
                        Some(give_back) => give_back.await.unwrap_or_default(),
                        None => Vec::new(),
                    }
                }
                .into_actor(act)
                .map(|frames, act, _ctx| {
                    for frame in frames {
                        act.deliver(Dispatch {
                            to: Audience::Members,
                            frame,
                        });
                    }
                })
            },
        )))
    }
}

impl Handler<Typing> for RoomActor {
    type Result = Result<(), ChatError>;

    fn handle(&mut self, msg: Typing, _ctx: &mut Self::Context) -> Self::Result {
        let room = self.room()?;
        room.authorize(msg.user_id, Action::Post)?;
        self.wiring.delivery.to_users(
            &mut room.members.iter().copied().filter(|u| *u != msg.user_id),
            &msg.frame,
        );
        Ok(())
    }
}

/// The membership, role, lock and delete changes: each is a [`Write`] run by [`RoomActor::run`]
/// as a barrier.
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
