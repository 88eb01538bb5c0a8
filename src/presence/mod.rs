//! Who is connected: user id → that user's live connections (every device). Fan-out reads it
//! to turn "these users" into "these sockets"; sessions register and unregister themselves.
//!
//! A plain read-mostly map rather than an actor: a dispatch looks up many users and must not
//! queue behind connects and disconnects. [`ledger`] keeps the session rows' `last_seen`.

pub mod ledger;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::protocol::server::Frame;

/// What a connection's socket actor is asked to do from outside.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum Outbound {
    /// Send this text frame.
    Frame(QueuedFrame),
    /// Its outbound queue overflowed: close with 1013 "Try again later" (DECISIONS 32).
    Overloaded,
    /// The server is shutting down: close with 1001 "Going away", so the client reconnects
    /// (to another node) at once instead of waiting for the socket to die.
    GoingAway,
}

/// A frame on its way to one connection. It counts as queued for that connection until the
/// session has handled (or dropped) it: actix does not expose a mailbox's length, so this is
/// how queue fullness is measured. Dereferences to the frame.
#[derive(Debug)]
pub struct QueuedFrame {
    frame: Frame,
    _slot: QueueSlot,
}

impl Deref for QueuedFrame {
    type Target = Frame;

    fn deref(&self) -> &Frame {
        &self.frame
    }
}

#[derive(Debug)]
struct QueueSlot(Arc<AtomicUsize>);

impl QueueSlot {
    /// Takes a place in the queue; returns it with the number of frames queued before it.
    fn take(queued: &Arc<AtomicUsize>) -> (QueueSlot, usize) {
        let before = queued.fetch_add(1, Ordering::Relaxed);
        (QueueSlot(queued.clone()), before)
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Connection {
    id: Uuid,
    tx: Recipient<Outbound>,
    /// Frames queued to it and not yet handled by its session.
    queued: Arc<AtomicUsize>,
    /// Set once the connection has been told to close for falling behind: nothing more is
    /// queued for it, so a reader that is stuck costs at most one full mailbox.
    overloaded: AtomicBool,
}

/// Where dispatches for users go: the fan-out seam. Today the local [`Presence`] delivers
/// them; a cross-node bus will implement this by publishing the encoded frame to the other
/// nodes as well as delivering it locally.
pub trait Deliver: Send + Sync + 'static {
    /// Every open connection of every listed user.
    fn to_users(&self, users: &mut dyn Iterator<Item = i64>, frame: &Frame);

    /// U(user): every open connection of `user_id`.
    fn to_user(&self, user_id: i64, frame: &Frame) {
        self.to_users(&mut std::iter::once(user_id), frame);
    }
}

pub struct Presence {
    by_user: RwLock<HashMap<i64, Vec<Connection>>>,
    metrics: Arc<Metrics>,
    /// Each connection's outbound queue capacity (`mailboxes.session`), for fullness.
    queue_capacity: usize,
}

impl Presence {
    pub fn new(metrics: Arc<Metrics>, queue_capacity: usize) -> Self {
        Presence {
            by_user: RwLock::default(),
            metrics,
            queue_capacity,
        }
    }

    pub fn register(&self, user_id: i64, connection_id: Uuid, tx: Recipient<Outbound>) {
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        map.entry(user_id).or_default().push(Connection {
            id: connection_id,
            tx,
            queued: Arc::default(),
            overloaded: AtomicBool::new(false),
        });
    }

    /// Those of `users` with no open connection (in the given order).
    pub fn offline_among(&self, users: &[i64]) -> Vec<i64> {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        users
            .iter()
            .copied()
            .filter(|u| !map.contains_key(u))
            .collect()
    }

    pub fn unregister(&self, user_id: i64, connection_id: Uuid) {
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        if let Some(conns) = map.get_mut(&user_id) {
            conns.retain(|c| c.id != connection_id);
            if conns.is_empty() {
                map.remove(&user_id);
            }
        }
    }

    /// Open connections, all users together.
    pub fn connection_count(&self) -> usize {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        map.values().map(Vec::len).sum()
    }

    /// Tells every connection to close with 1001 (shutdown). `do_send` bypasses full queues:
    /// the notice must reach even a connection that is behind.
    pub fn close_all(&self) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        for conn in map.values().flatten() {
            conn.tx.do_send(Outbound::GoingAway);
        }
    }

    /// A full mailbox means the client is not reading; it is told to go away rather than
    /// being allowed to grow our memory. `do_send` bypasses the capacity so the notice always
    /// fits; it is processed (and the close sent) as soon as the socket drains. Returns
    /// whether the frame was queued.
    fn deliver(&self, conn: &Connection, frame: &Frame) -> bool {
        if conn.overloaded.load(Ordering::Relaxed) {
            return false;
        }
        let (slot, before) = QueueSlot::take(&conn.queued);
        self.metrics.queue_depth(before, self.queue_capacity);
        let queued = QueuedFrame {
            frame: frame.clone(),
            _slot: slot,
        };
        match conn.tx.try_send(Outbound::Frame(queued)) {
            Ok(()) => true,
            Err(SendError::Full(_)) => {
                if !conn.overloaded.swap(true, Ordering::Relaxed) {
                    log::warn!(conn:% = conn.id; "connection fell behind; closing it with 1013");
                    self.metrics.slow_consumer_closed();
                    conn.tx.do_send(Outbound::Overloaded);
                }
                false
            }
            Err(SendError::Closed(_)) => false,
        }
    }
}

impl Deliver for Presence {
    fn to_users(&self, users: &mut dyn Iterator<Item = i64>, frame: &Frame) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        let mut delivered = 0;
        for user_id in users {
            for conn in map.get(&user_id).into_iter().flatten() {
                delivered += u64::from(self.deliver(conn, frame));
            }
        }
        self.metrics.dispatched(delivered);
    }
}
