//! Who is connected: user id → that user's live connections (every device). Fan-out reads it
//! to turn "these users" into "these sockets"; sessions register and unregister themselves.
//!
//! A plain read-mostly map rather than an actor: a dispatch looks up many users and must not
//! queue behind connects and disconnects. [`ledger`] keeps the session rows' `last_seen`.

pub mod ledger;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::{self, ThreadId};

use actix::prelude::*;
use actix_rt::ArbiterHandle;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::protocol::server::Frame;

/// What a connection's socket actor is asked to do from outside.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum Outbound {
    /// Frames wait in the connection's [`Outbox`]: send every one of them.
    Flush,
    /// Its outbound queue overflowed: close with 1013 "Try again later" (DECISIONS 32).
    Overloaded,
    /// The server is shutting down: close with 1001 "Going away", so the client reconnects
    /// (to another node) at once instead of waiting for the socket to die.
    GoingAway,
}

/// One connection's outbound queue: fan-out pushes frames, the session takes them all at once.
///
/// Why not one actor message per frame: a session that is behind then takes every waiting
/// frame in one turn, which actix-http writes to the socket in one `write()` (per-frame
/// messages got coalesced only when they happened to be in the mailbox together), and a burst
/// costs one mailbox message and one wake-up of the session instead of one per frame. Bounded
/// by `mailboxes.session` frames, checked in [`Presence`] as each frame is queued.
#[derive(Debug, Default)]
pub struct Outbox {
    frames: Mutex<VecDeque<Frame>>,
    /// An [`Outbound::Flush`] is on its way to the session: later frames need no other.
    flush_pending: AtomicBool,
    /// Frames the session took last time. The first frame queued after a take makes room for
    /// as many, so that a burst like the last one grows the queue once rather than doubling
    /// its way up (the queue still holds nothing while it is empty).
    last_taken: AtomicUsize,
}

impl Outbox {
    /// Every frame queued so far, oldest first. The queue gives its memory back, so an idle
    /// connection holds none.
    pub fn take_all(&self) -> VecDeque<Frame> {
        // Cleared before the frames are taken: a frame queued after this sends a new flush,
        // at worst one that finds the queue empty.
        self.flush_pending.store(false, Ordering::SeqCst);
        let frames = std::mem::take(&mut *self.frames());
        self.last_taken.store(frames.len(), Ordering::Relaxed);
        frames
    }

    fn frames(&self) -> MutexGuard<'_, VecDeque<Frame>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Connection {
    id: Uuid,
    /// Shared so that a dispatch can hand it to the session's worker without a new box.
    tx: Arc<Recipient<Outbound>>,
    /// Where the session runs (None off an arbiter: its flushes are sent from where the
    /// dispatch is).
    worker: Option<Worker>,
    outbox: Arc<Outbox>,
    /// Set once the connection has been told to close for falling behind: nothing more is
    /// queued for it, so a reader that is stuck costs at most one full queue.
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

    /// One connection of `user_id` only, queued behind what its outbox holds: the answer to
    /// a pipelined `message.send` (nothing if the connection has gone).
    fn to_connection(&self, user_id: i64, connection_id: Uuid, frame: &Frame);
}

pub struct Presence {
    by_user: RwLock<HashMap<i64, Vec<Connection>>>,
    metrics: Arc<Metrics>,
    /// Frames an [`Outbox`] holds at most (`mailboxes.session`): one more closes it with 1013.
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

    /// `tx` is told to flush when frames for the connection wait in `outbox`. Called on the
    /// thread the session runs on, which is recorded: a dispatch wakes each worker once.
    pub fn register(
        &self,
        user_id: i64,
        connection_id: Uuid,
        tx: Recipient<Outbound>,
        outbox: Arc<Outbox>,
    ) {
        let mut map = self.by_user.write().unwrap_or_else(|p| p.into_inner());
        map.entry(user_id).or_default().push(Connection {
            id: connection_id,
            tx: Arc::new(tx),
            worker: Worker::current(),
            outbox,
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

    /// A full queue means the client is not reading; it is told to go away rather than being
    /// allowed to grow our memory. Control notices use `do_send`, which bypasses the mailbox
    /// capacity so that they always fit; the close goes out as soon as the socket drains.
    /// `fullest` becomes the largest number of frames an outbox of the dispatch held before it
    /// (observed once per dispatch by the caller).
    fn queue(&self, conn: &Connection, frame: &Frame, fullest: &mut Option<usize>) -> Queued {
        if conn.overloaded.load(Ordering::Relaxed) {
            return Queued::No;
        }
        let before = {
            let mut frames = conn.outbox.frames();
            let before = frames.len();
            if before < self.queue_capacity {
                if frames.capacity() == 0 {
                    let last = conn.outbox.last_taken.load(Ordering::Relaxed);
                    frames.reserve(last.min(self.queue_capacity));
                }
                frames.push_back(frame.clone());
            }
            before
        };
        // The frame that overflows counts too: a fullness of 1 is a 1013 close.
        *fullest = (*fullest).max(Some(before));
        if before >= self.queue_capacity {
            if !conn.overloaded.swap(true, Ordering::Relaxed) {
                log::warn!(conn:% = conn.id; "connection fell behind; closing it with 1013");
                self.metrics.slow_consumer_closed();
                conn.tx.do_send(Outbound::Overloaded);
            }
            return Queued::No;
        }
        if conn.outbox.flush_pending.swap(true, Ordering::SeqCst) {
            Queued::Yes
        } else {
            Queued::NeedsFlush
        }
    }

    /// One sample per dispatch rather than per delivery: what the metric is for is how close
    /// the dispatch came to closing a connection, which its fullest queue says, and a histogram
    /// sample for each of a large room's deliveries cost more than queueing the frame did.
    fn observe(&self, fullest: Option<usize>) {
        if let Some(queued) = fullest {
            self.metrics.queue_depth(queued, self.queue_capacity);
        }
    }
}

/// The arbiter (an HTTP worker) a session runs on.
struct Worker {
    thread: ThreadId,
    arbiter: ArbiterHandle,
}

impl Worker {
    fn current() -> Option<Worker> {
        Arbiter::try_current().map(|arbiter| Worker {
            thread: thread::current().id(),
            arbiter,
        })
    }
}

/// The flushes one dispatch owes, by the worker they go to.
///
/// Why: a flush sent to a session on another thread may wake that thread, and under load the
/// kernel runs a thread it wakes at once, preempting the dispatching thread. Sent one by one,
/// each worker then woke once per connection of the dispatch, took that one frame and went
/// back to sleep. Handed over together, a worker is woken once per dispatch and sends the
/// flushes to its sessions itself, which wakes no other thread.
#[derive(Default)]
struct Wakes<'a> {
    /// One entry per worker, in the order first met (a handful: the HTTP workers).
    by_worker: Vec<(&'a Worker, Vec<Arc<Recipient<Outbound>>>)>,
    /// Sessions that run on no arbiter (flushed where the dispatch is).
    elsewhere: Vec<&'a Recipient<Outbound>>,
}

impl<'a> Wakes<'a> {
    fn add(&mut self, conn: &'a Connection) {
        match &conn.worker {
            None => self.elsewhere.push(&conn.tx),
            Some(worker) => match self
                .by_worker
                .iter_mut()
                .find(|(w, _)| w.thread == worker.thread)
            {
                Some((_, txs)) => txs.push(conn.tx.clone()),
                None => self.by_worker.push((worker, vec![conn.tx.clone()])),
            },
        }
    }

    /// Sends every flush. A session that has stopped meanwhile simply takes none; its frame
    /// was queued and is counted as delivered, as one queued just before it stopped is.
    fn send(self) {
        for tx in self.elsewhere {
            flush(tx);
        }
        let here = thread::current().id();
        for (worker, txs) in self.by_worker {
            // One session, or the dispatch is on that worker already: nothing to save.
            if txs.len() == 1 || worker.thread == here {
                txs.iter().for_each(|tx| flush(tx));
                continue;
            }
            // Refused only once the worker has stopped, and its sessions with it: no one is
            // left to flush.
            let _ = worker
                .arbiter
                .spawn_fn(move || txs.iter().for_each(|tx| flush(tx)));
        }
    }
}

/// What [`Presence::queue`] did with a frame.
#[derive(PartialEq)]
enum Queued {
    /// Not queued: the connection is closing for falling behind.
    No,
    /// Queued; a flush is already on its way.
    Yes,
    /// Queued; the connection must be sent a flush ([`flush`]).
    NeedsFlush,
}

/// Asks a session to write what its outbox holds (nothing if it has stopped).
fn flush(tx: &Recipient<Outbound>) {
    // Only control notices share the mailbox; the flush must not be lost to them.
    if let Err(SendError::Full(flush)) = tx.try_send(Outbound::Flush) {
        tx.do_send(flush);
    }
}

impl Deliver for Presence {
    /// Every frame is queued before any session is told to flush, and the flushes go to each
    /// worker together ([`Wakes`]).
    fn to_users(&self, users: &mut dyn Iterator<Item = i64>, frame: &Frame) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        let (mut delivered, mut fullest) = (0, None);
        let mut wakes = Wakes::default();
        for user_id in users {
            for conn in map.get(&user_id).into_iter().flatten() {
                match self.queue(conn, frame, &mut fullest) {
                    Queued::No => continue,
                    Queued::Yes => {}
                    Queued::NeedsFlush => wakes.add(conn),
                }
                delivered += 1;
            }
        }
        wakes.send();
        self.observe(fullest);
        self.metrics.dispatched(delivered);
    }

    fn to_connection(&self, user_id: i64, connection_id: Uuid, frame: &Frame) {
        let map = self.by_user.read().unwrap_or_else(|p| p.into_inner());
        let conns = map.get(&user_id).into_iter().flatten();
        let mut fullest = None;
        for conn in conns.filter(|c| c.id == connection_id) {
            if self.queue(conn, frame, &mut fullest) == Queued::NeedsFlush {
                flush(&conn.tx);
            }
        }
        self.observe(fullest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session stand-in that counts what it is told.
    #[derive(Default)]
    struct Sink {
        flushes: usize,
        overloaded: usize,
    }

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Outbound> for Sink {
        type Result = ();

        fn handle(&mut self, msg: Outbound, _ctx: &mut Self::Context) {
            match msg {
                Outbound::Flush => self.flushes += 1,
                Outbound::Overloaded => self.overloaded += 1,
                Outbound::GoingAway => {}
            }
        }
    }

    /// Answered after everything sent to the sink before it.
    #[derive(Message)]
    #[rtype(result = "Told")]
    struct Counts;

    #[derive(MessageResponse, Debug, PartialEq)]
    struct Told {
        flushes: usize,
        overloaded: usize,
    }

    impl Handler<Counts> for Sink {
        type Result = Told;

        fn handle(&mut self, _msg: Counts, _ctx: &mut Self::Context) -> Told {
            Told {
                flushes: self.flushes,
                overloaded: self.overloaded,
            }
        }
    }

    fn told(flushes: usize, overloaded: usize) -> Told {
        Told {
            flushes,
            overloaded,
        }
    }

    fn connected(capacity: usize) -> (Presence, Arc<Outbox>, Addr<Sink>) {
        let presence = Presence::new(Arc::new(Metrics::new().expect("metrics")), capacity);
        let outbox = Arc::new(Outbox::default());
        let sink = Sink::default().start();
        presence.register(7, Uuid::new_v4(), sink.clone().recipient(), outbox.clone());
        (presence, outbox, sink)
    }

    fn texts(frames: VecDeque<Frame>) -> Vec<String> {
        frames.into_iter().map(|f| f.to_string()).collect()
    }

    #[actix_rt::test]
    async fn a_burst_costs_one_flush_and_is_taken_whole_in_order() {
        let (presence, outbox, sink) = connected(8);
        for n in 0..5 {
            presence.to_user(7, &Frame::from(n.to_string()));
        }
        assert_eq!(sink.send(Counts).await.expect("sink"), told(1, 0));
        assert_eq!(texts(outbox.take_all()), ["0", "1", "2", "3", "4"]);

        // Taken: the next frame asks for a flush of its own.
        presence.to_user(7, &Frame::from("5"));
        assert_eq!(sink.send(Counts).await.expect("sink"), told(2, 0));
        assert_eq!(texts(outbox.take_all()), ["5"]);
    }

    #[actix_rt::test]
    async fn a_full_outbox_closes_its_connection_once_and_takes_nothing_more() {
        let (presence, outbox, sink) = connected(2);
        for n in 0..5 {
            presence.to_user(7, &Frame::from(n.to_string()));
        }
        assert_eq!(sink.send(Counts).await.expect("sink"), told(1, 1));
        assert_eq!(texts(outbox.take_all()), ["0", "1"]);
        presence.to_user(7, &Frame::from("late"));
        assert!(outbox.take_all().is_empty());
    }

    #[actix_rt::test]
    async fn sessions_on_another_worker_are_flushed_there_once_each_with_every_frame() {
        let presence = Arc::new(Presence::new(Arc::new(Metrics::new().expect("metrics")), 8));
        let worker = Arbiter::new();
        let (started, sessions) = tokio::sync::oneshot::channel();
        let registry = presence.clone();
        worker.spawn_fn(move || {
            let sessions: Vec<_> = [7, 8, 9]
                .into_iter()
                .map(|user| {
                    let outbox = Arc::new(Outbox::default());
                    let sink = Sink::default().start();
                    registry.register(
                        user,
                        Uuid::new_v4(),
                        sink.clone().recipient(),
                        outbox.clone(),
                    );
                    (sink, outbox)
                })
                .collect();
            let _ = started.send(sessions);
        });
        let sessions = sessions.await.expect("sessions started");

        for n in 0..3 {
            presence.to_users(&mut [7, 8, 9].into_iter(), &Frame::from(n.to_string()));
        }
        // The worker runs what it is handed in order: the flushes are in the mailboxes after this.
        let (ran, done) = tokio::sync::oneshot::channel();
        worker.spawn_fn(move || {
            let _ = ran.send(());
        });
        done.await.expect("worker ran");

        for (sink, outbox) in &sessions {
            assert_eq!(sink.send(Counts).await.expect("sink"), told(1, 0));
            assert_eq!(texts(outbox.take_all()), ["0", "1", "2"]);
        }
        worker.stop();
    }
}
