//! `RoomActor`: the authority for one room while it runs. It owns the room's [`Room`] state
//! (membership, roles, permissions, lock), answers every authorisation question from it,
//! serialises every change to it (check → one transaction → commit → apply → fan out), and
//! fans the room's dispatches out to its members.
//!
//! It loads its own state from the database as its first act (messages wait until then), and
//! reloads it when its supervisor restarts it, so after any restart it agrees with the
//! database again.

use std::sync::Arc;

use actix::prelude::*;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::messages::{Authorize, Fanout, Post, Snapshot};
use super::room::{Action, Room};
use crate::presence::Deliver;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, MessageView};
use crate::protocol::Timestamp;
use crate::store;

enum State {
    /// Until the first load completes (no message is handled meanwhile).
    Loading,
    Live(Room),
    /// Deleted (found missing at load, or deleted through this actor): every question is
    /// answered `NotFound` until the last caller lets go.
    Gone,
}

pub struct RoomActor {
    id: Uuid,
    state: State,
    db: DatabaseConnection,
    delivery: Arc<dyn Deliver>,
    mailbox: usize,
}

impl RoomActor {
    pub fn new(
        id: Uuid,
        db: DatabaseConnection,
        delivery: Arc<dyn Deliver>,
        mailbox: usize,
    ) -> Self {
        RoomActor {
            id,
            state: State::Loading,
            db,
            delivery,
            mailbox,
        }
    }

    fn room(&self) -> Result<&Room, ChatError> {
        match &self.state {
            State::Live(room) => Ok(room),
            State::Loading | State::Gone => Err(ChatError::NotFound),
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let (db, id) = (self.db.clone(), self.id);
        ctx.wait(
            async move { store::rooms::load(&db, id).await }
                .into_actor(self)
                .map(move |loaded, act, _ctx| {
                    act.state = match loaded {
                        Ok(Some(room)) => State::Live(room),
                        Ok(None) => State::Gone,
                        Err(e) => {
                            // Answer NotFound rather than guess; the registry replaces actors
                            // that stop, so a later request gets a fresh load.
                            log::error!("room {id}: cannot load its state: {e}");
                            State::Gone
                        }
                    };
                }),
        );
    }
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
        if let State::Live(room) = &self.state {
            self.delivery
                .to_users(&mut room.members.iter().copied(), &msg.frame);
        }
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

impl Handler<Post> for RoomActor {
    type Result = AtomicResponse<Self, Result<MessageView, ChatError>>;

    fn handle(&mut self, msg: Post, _ctx: &mut Self::Context) -> Self::Result {
        let checked = self.room().and_then(|room| {
            room.authorize(msg.message.sender_id, Action::Post)?;
            // Everyone but the sender is owed a notification (messages.md §14.2).
            Ok(room
                .members
                .iter()
                .copied()
                .filter(|u| *u != msg.message.sender_id)
                .collect::<Vec<i64>>())
        });
        let db = self.db.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let recipients = checked?;
                let plain = msg.message.parent_message_id.is_none()
                    && msg.message.forwarded_from_id.is_none()
                    && msg.message.media.is_empty();
                let room_id = msg.message.room_id;
                let txn = db.begin().await.map_err(store::StoreError::from)?;
                let stored = store::messages::create(&txn, msg.message, &recipients).await?;
                txn.commit().await.map_err(store::StoreError::from)?;
                if plain {
                    // Nothing to look up: a new plain message has no receipts, reactions or
                    // deliveries yet.
                    return Ok(MessageView::fresh(
                        stored.id,
                        room_id,
                        msg.sender,
                        stored.content,
                        Timestamp(stored.created_at),
                        stored.is_forwarded,
                    ));
                }
                store::render::message_views(&db, &[stored.id])
                    .await?
                    .pop()
                    .ok_or_else(|| ChatError::internal("message.send", "stored message not found"))
            }
            .into_actor(self)
            .map(|result, act, _ctx| {
                if let (Ok(view), State::Live(room)) = (&result, &act.state) {
                    act.delivery.to_users(
                        &mut room.members.iter().copied(),
                        &routed(event::MESSAGE, view),
                    );
                }
                result
            }),
        ))
    }
}
