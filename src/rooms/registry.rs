//! `RoomRegistry`: room id → that room's `RoomActor`, and the one way to reach it
//! ([`RoomRegistry::call`]). It supervises the actors: it starts one (under an actix
//! `Supervisor`, on the rooms arbiter, or with `rooms.actor_thread = "worker"` on the HTTP
//! worker of its first caller) the first time a room is needed, replaces one whose mailbox
//! closed (a panic ends actor and supervisor alike, and so does the end of the thread it ran
//! on), and retires actors that have been idle for `rooms.actor_idle_timeout`.
//!
//! There is never more than one actor per room: an actor is inserted into the map under the
//! lock before anything is loaded (it loads its own state as its first act), and it is retired
//! only under the same lock, when no call is in flight. Callers never keep an address beyond
//! one call, so dropping the map's entry is what ends an actor: the reaper does it for idle
//! ones, and an actor whose room is gone does it for itself ([`Registration::forget`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::prelude::*;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::actor::{RoomActor, Wiring};
use super::messages::UserCreated;
use crate::config::ActorThread;
use crate::notifications::Notices;
use crate::presence::Deliver;
use crate::protocol::errors::ChatError;
use crate::store;
use crate::store::writer::Writer;

struct Entry {
    addr: Addr<RoomActor>,
    /// Calls that hold (a clone of) `addr` right now.
    in_flight: Arc<AtomicUsize>,
    last_used: Instant,
}

type Rooms = Mutex<HashMap<Uuid, Entry>>;

fn lock(rooms: &Rooms) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
    rooms.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct RoomRegistry {
    rooms: Arc<Rooms>,
    arbiter: ArbiterHandle,
    placement: ActorThread,
    wiring: Wiring,
    idle_timeout: Duration,
}

/// Decrements an entry's in-flight count however the call ends (also when the caller's
/// future is dropped halfway, e.g. because its connection closed).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RoomRegistry {
    /// `reader` serves the reads outside a write (does a room exist, loading it); every write
    /// goes through `writer`. Actors start on `arbiter`, or with [`ActorThread::Worker`] on
    /// the arbiter of the caller that first needs the room (`arbiter` when it runs on none).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        reader: DatabaseConnection,
        writer: Writer,
        delivery: Arc<dyn Deliver>,
        notices: Notices,
        arbiter: ArbiterHandle,
        placement: ActorThread,
        mailbox: usize,
        idle_timeout: Duration,
    ) -> Self {
        RoomRegistry {
            rooms: Arc::new(Mutex::new(HashMap::new())),
            arbiter,
            placement,
            wiring: Wiring {
                reader,
                writer,
                delivery,
                notices,
                mailbox,
            },
            idle_timeout,
        }
    }

    /// The writer every room write goes through; message changes made outside the room
    /// actors (reactions, receipts) commit through it too ([`Writer::transaction`]).
    pub fn writer(&self) -> &Writer {
        &self.wiring.writer
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        lock(&self.rooms)
    }

    /// The live actor of `room_id`, marked in use, if there is one.
    fn checkout(&self, room_id: Uuid) -> Option<(Addr<RoomActor>, InFlight)> {
        let mut map = self.map();
        let entry = map.get_mut(&room_id).filter(|e| e.addr.connected())?;
        entry.in_flight.fetch_add(1, Ordering::AcqRel);
        entry.last_used = Instant::now();
        Some((entry.addr.clone(), InFlight(entry.in_flight.clone())))
    }

    /// The room's actor, started if needed; `None` when the room does not exist.
    async fn checkout_or_start(
        &self,
        room_id: Uuid,
    ) -> Result<Option<(Addr<RoomActor>, InFlight)>, ChatError> {
        if let Some(found) = self.checkout(room_id) {
            return Ok(Some(found));
        }
        // A cheap existence check keeps requests for unknown rooms from starting actors.
        if store::rooms::find(&self.wiring.reader, room_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let mut map = self.map();
        if let Some(entry) = map.get_mut(&room_id).filter(|e| e.addr.connected()) {
            entry.in_flight.fetch_add(1, Ordering::AcqRel);
            entry.last_used = Instant::now();
            return Ok(Some((
                entry.addr.clone(),
                InFlight(entry.in_flight.clone()),
            )));
        }
        let wiring = self.wiring.clone();
        let registration = Registration {
            rooms: Arc::downgrade(&self.rooms),
        };
        let arbiter = match self.placement {
            ActorThread::Actors => self.arbiter.clone(),
            // The sender's own worker: its sends, the commit in the writer's place
            // (`database.writer_thread = "adaptive"`) and the fan-out to the sessions there
            // then wake no other thread.
            ActorThread::Worker => Arbiter::try_current().unwrap_or_else(|| self.arbiter.clone()),
        };
        let addr = Supervisor::start_in_arbiter(&arbiter, move |_| {
            RoomActor::new(room_id, wiring, registration)
        });
        let in_flight = Arc::new(AtomicUsize::new(1));
        map.insert(
            room_id,
            Entry {
                addr: addr.clone(),
                in_flight: in_flight.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(Some((addr, InFlight(in_flight))))
    }

    /// Sends `msg` to the actor of `room_id` and waits for its answer. `NotFound` when there
    /// is no such room. An actor found dead is replaced and the message sent once more.
    pub async fn call<M>(&self, room_id: Uuid, msg: M) -> Result<M::Result, ChatError>
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send,
        RoomActor: Handler<M>,
        <RoomActor as Actor>::Context: ToEnvelope<RoomActor, M>,
    {
        for _ in 0..2 {
            let Some((addr, _in_flight)) = self.checkout_or_start(room_id).await? else {
                return Err(ChatError::NotFound);
            };
            match addr.send(msg.clone()).await {
                Ok(result) => return Ok(result),
                Err(MailboxError::Closed) => continue,
                Err(e) => return Err(ChatError::internal("room actor", e)),
            }
        }
        Err(ChatError::internal("room actor", "closed twice in a row"))
    }

    /// A user row was just created. A user deleted behind the server's back (`chatd users
    /// delete`) who connects again gets a new row, but a running actor may still count them
    /// in; every running actor is told, and one that does reloads its room before it handles
    /// anything else. Returns once every actor has queued that, so a session started after
    /// this never sees the room's frames.
    pub async fn user_created(&self, user_id: i64) {
        let running: Vec<Addr<RoomActor>> = self
            .map()
            .values()
            .filter(|e| e.addr.connected())
            .map(|e| e.addr.clone())
            .collect();
        for addr in running {
            // An actor that ended meanwhile has nothing to forget.
            let _ = addr.send(UserCreated { user_id }).await;
        }
    }

    /// Drops whatever actor is registered for `room_id`, so that the next call loads the room
    /// afresh. A room just created has no past: an actor still registered under its id
    /// belongs to a room deleted behind the server's back (`chatd users delete`) whose
    /// client-chosen id was taken again, and must not answer for the new one.
    pub fn forget(&self, room_id: Uuid) {
        self.map().remove(&room_id);
    }

    /// Retires every actor idle for longer than the timeout with no call in flight. Returns
    /// how many were retired.
    pub fn retire_idle(&self) -> usize {
        let mut map = self.map();
        let before = map.len();
        let timeout = self.idle_timeout;
        map.retain(|_, e| {
            e.addr.connected()
                && (e.in_flight.load(Ordering::Acquire) > 0 || e.last_used.elapsed() < timeout)
        });
        before - map.len()
    }

    /// How many room actors are alive (for tests and metrics).
    pub fn live(&self) -> usize {
        self.map().values().filter(|e| e.addr.connected()).count()
    }

    /// Runs [`RoomRegistry::retire_idle`] every half timeout, on the current runtime, for as
    /// long as the registry exists.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let registry = Arc::downgrade(self);
        let period = (self.idle_timeout / 2).max(Duration::from_millis(100));
        actix_rt::spawn(async move {
            let mut tick = actix_rt::time::interval(period);
            loop {
                tick.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                let retired = registry.retire_idle();
                if retired > 0 {
                    log::debug!("retired {retired} idle room actors");
                }
            }
        });
    }
}

/// An actor's hold on its own registry entry.
#[derive(Clone)]
pub(super) struct Registration {
    rooms: Weak<Rooms>,
}

impl Registration {
    /// Drops the registry's entry for `room_id` if it is still the actor at `addr` (a room
    /// deleted and created again with the same client-chosen id has a new actor). The actor
    /// ends once its last caller lets go; the next call for the room starts afresh.
    pub(super) fn forget(&self, room_id: Uuid, addr: &Addr<RoomActor>) {
        if let Some(rooms) = self.rooms.upgrade() {
            let mut map = lock(&rooms);
            if map.get(&room_id).is_some_and(|e| e.addr == *addr) {
                map.remove(&room_id);
            }
        }
    }
}
