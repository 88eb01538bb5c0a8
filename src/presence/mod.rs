//! Who is connected: user id → that user's live connections (every device). Fan-out reads it
//! to turn "these users" into "these sockets"; sessions register and unregister themselves.
//!
//! A plain read-mostly map rather than an actor: a dispatch looks up many users and must not
//! queue behind connects and disconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use actix::prelude::*;
use uuid::Uuid;

use crate::protocol::server::Frame;

/// What a connection's socket actor is asked to do from outside.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum Outbound {
    /// Send this text frame.
    Frame(Frame),
    /// Its outbound queue overflowed: close with 1013 "Try again later" (DECISIONS 32).
    Overloaded,
}

struct Connection {
    id: Uuid,
    tx: Recipient<Outbound>,
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

#[derive(Default)]
pub struct Presence {
    by_user: RwLock<HashMap<i64, Vec<Connection>>>,
}

impl Presence {
    pub fn register(&self, user_id: i64, connection_id: Uuid, tx: Recipient<Outbound>) {
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        map.entry(user_id).or_default().push(Connection {
            id: connection_id,
            tx,
            overloaded: AtomicBool::new(false),
        });
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
}

impl Deliver for Presence {
    fn to_users(&self, users: &mut dyn Iterator<Item = i64>, frame: &Frame) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        for user_id in users {
            for conn in map.get(&user_id).into_iter().flatten() {
                deliver(conn, frame);
            }
        }
    }
}

/// A full mailbox means the client is not reading; it is told to go away rather than being
/// allowed to grow our memory. `do_send` bypasses the capacity so the notice always fits; it
/// is processed (and the close sent) as soon as the socket drains.
fn deliver(conn: &Connection, frame: &Frame) {
    if conn.overloaded.load(Ordering::Relaxed) {
        return;
    }
    match conn.tx.try_send(Outbound::Frame(frame.clone())) {
        Ok(()) => {}
        Err(SendError::Full(_)) => {
            if !conn.overloaded.swap(true, Ordering::Relaxed) {
                log::warn!("connection {} fell behind; closing it with 1013", conn.id);
                conn.tx.do_send(Outbound::Overloaded);
            }
        }
        Err(SendError::Closed(_)) => {}
    }
}
