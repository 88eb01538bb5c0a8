//! Measured message traffic over open connections: senders keep a window of messages in
//! flight (a message is in flight until its sender receives its own dispatch), every
//! connection reads and parses every frame, and every delivery is accounted for.
//!
//! Phases: warm-up (traffic, not measured), the measured window (rates, latency of every
//! delivery, server and client CPU), then drain: senders stop and every expected delivery
//! must arrive. Per (receiver, sender) the sequence numbers tell what was lost, duplicated or
//! reordered; all three must be 0.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Ws};
use crate::report::{latency_json, new_histogram, Progress};
use crate::server::proc;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const DRAIN: u8 = 2;

/// Longest wait for the last deliveries once the senders have stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

pub struct Room {
    pub id: String,
    /// Indices into the connections.
    pub members: Vec<usize>,
}

pub struct Plan {
    pub rooms: Vec<Room>,
    /// (connection, room) of each sender.
    pub senders: Vec<(usize, usize)>,
    /// The user id of each connection (a delivery's `sender.id` is checked against it).
    pub users: Vec<i64>,
    pub window: usize,
    pub warmup: f64,
    pub duration: f64,
    pub heartbeat: f64,
}

/// One connection's figures; each on cache lines of its own, so that readers on different
/// threads never write to the same line.
#[repr(align(128))]
struct Counters {
    received: AtomicU64,
    echoes: AtomicU64,
    duplicated: AtomicU64,
    out_of_order: AtomicU64,
    /// Every delivery of the measured window, microseconds.
    latency: Mutex<Histogram<u64>>,
}

struct Shared {
    base: Instant,
    phase: AtomicU8,
    conns: Vec<Counters>,
    sent: Vec<AtomicU64>,
    senders_done: AtomicUsize,
    errors: AtomicU64,
    error_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn total(&self, field: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        self.conns.iter().map(|c| field(c).load(Relaxed)).sum()
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Relaxed);
        let mut samples = self.error_samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < 5 {
            samples.push(what);
        }
    }
}

/// What one receiver knows about one sender's sequence.
#[derive(Default)]
struct Order {
    next: u64,
    /// Numbers skipped by a later arrival, still expected.
    missing: BTreeSet<u64>,
}

/// Runs the plan over `conns` and returns the figures (rates, latency, accounting, CPU).
pub async fn run(
    conns: Vec<Ws>,
    plan: Plan,
    server_pid: Option<u32>,
    label: &str,
) -> Map<String, Value> {
    let shared = Arc::new(Shared {
        base: Instant::now(),
        phase: AtomicU8::new(WARMUP),
        conns: conns
            .iter()
            .map(|_| Counters {
                received: AtomicU64::new(0),
                echoes: AtomicU64::new(0),
                duplicated: AtomicU64::new(0),
                out_of_order: AtomicU64::new(0),
                latency: Mutex::new(new_histogram()),
            })
            .collect(),
        sent: plan.senders.iter().map(|_| AtomicU64::new(0)).collect(),
        senders_done: AtomicUsize::new(0),
        errors: AtomicU64::new(0),
        error_samples: Mutex::new(Vec::new()),
    });
    let windows: Vec<Arc<Semaphore>> = plan
        .senders
        .iter()
        .map(|_| Arc::new(Semaphore::new(plan.window)))
        .collect();
    let sender_of_conn = |conn: usize| plan.senders.iter().position(|(c, _)| *c == conn);
    let sender_users: Arc<Vec<i64>> =
        Arc::new(plan.senders.iter().map(|(c, _)| plan.users[*c]).collect());

    let mut tasks = Vec::new();
    for (conn, ws) in conns.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        let me = sender_of_conn(conn);
        let window = me.map(|s| windows[s].clone());
        tasks.push(tokio::spawn(read(
            shared.clone(),
            stream,
            conn,
            me,
            window.clone(),
            sender_users.clone(),
        )));
        tasks.push(match (me, window) {
            (Some(s), Some(window)) => {
                let room = plan.rooms[plan.senders[s].1].id.clone();
                tokio::spawn(send(shared.clone(), sink, s, room, window))
            }
            _ => tokio::spawn(keep_alive(sink, plan.heartbeat)),
        });
    }

    let mut progress = Progress::new(label, plan.warmup + plan.duration);
    let tick = Duration::from_millis(250);
    let warm_until = Instant::now() + Duration::from_secs_f64(plan.warmup);
    while Instant::now() < warm_until {
        tokio::time::sleep(tick.min(warm_until - Instant::now())).await;
        progress.show(shared.total(|c| &c.received));
    }

    let cpu0 = (proc::cpu_seconds(server_pid), proc::cpu_seconds(None));
    let received0 = shared.total(|c| &c.received);
    let echoes0 = shared.total(|c| &c.echoes);
    let started = Instant::now();
    shared.phase.store(MEASURE, Relaxed);
    let until = started + Duration::from_secs_f64(plan.duration);
    while Instant::now() < until {
        tokio::time::sleep(tick.min(until - Instant::now())).await;
        progress.show(shared.total(|c| &c.received));
    }
    shared.phase.store(DRAIN, Relaxed);
    let window_s = started.elapsed().as_secs_f64();
    let received1 = shared.total(|c| &c.received);
    let echoes1 = shared.total(|c| &c.echoes);
    let cpu1 = (proc::cpu_seconds(server_pid), proc::cpu_seconds(None));
    progress.done();

    // Drain: wake every sender so it sees the phase, then wait for what is owed.
    for w in &windows {
        w.add_permits(1);
    }
    let expected = || -> u64 {
        plan.senders
            .iter()
            .enumerate()
            .map(|(s, (_, room))| {
                shared.sent[s].load(Relaxed) * plan.rooms[*room].members.len() as u64
            })
            .sum()
    };
    let unique = || shared.total(|c| &c.received) - shared.total(|c| &c.duplicated);
    let drain_started = Instant::now();
    while drain_started.elapsed() < DRAIN_LIMIT
        && (shared.senders_done.load(Relaxed) < plan.senders.len() || unique() < expected())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A little longer, so that a duplicate or a stray frame would still be counted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }

    let sent: u64 = shared.sent.iter().map(|s| s.load(Relaxed)).sum();
    let expected = expected();
    let lost = expected as i64 - unique() as i64;
    let deliveries = received1 - received0;
    let messages = echoes1 - echoes0;
    let mut latency = new_histogram();
    for c in &shared.conns {
        let h = c.latency.lock().unwrap_or_else(|p| p.into_inner());
        let _ = latency.add(&*h);
    }
    let cpu = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| round3(b - a));
    let mut out = Map::new();
    out.insert("window_s".into(), json!(round3(window_s)));
    out.insert("messages".into(), json!(messages));
    out.insert(
        "msgs_per_s".into(),
        json!((messages as f64 / window_s).round()),
    );
    out.insert("deliveries".into(), json!(deliveries));
    out.insert(
        "deliveries_per_s".into(),
        json!((deliveries as f64 / window_s).round()),
    );
    out.insert("latency_ms".into(), latency_json(&latency));
    out.insert("sent_total".into(), json!(sent));
    out.insert("expected_deliveries".into(), json!(expected));
    out.insert("lost".into(), json!(lost));
    out.insert("duplicated".into(), json!(shared.total(|c| &c.duplicated)));
    out.insert(
        "out_of_order".into(),
        json!(shared.total(|c| &c.out_of_order)),
    );
    out.insert("errors".into(), json!(shared.errors.load(Relaxed)));
    let samples = shared
        .error_samples
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if !samples.is_empty() {
        out.insert("error_samples".into(), json!(*samples));
    }
    out.insert(
        "drain_s".into(),
        json!(round3(drain_started.elapsed().as_secs_f64())),
    );
    out.insert("server_cpu_s".into(), json!(cpu(cpu0.0, cpu1.0)));
    out.insert("client_cpu_s".into(), json!(cpu(cpu0.1, cpu1.1)));
    out
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Reads every frame of one connection: deliveries are checked and timed, a sender's own
/// echo frees a place in its window.
async fn read(
    shared: Arc<Shared>,
    mut stream: SplitStream<Ws>,
    conn: usize,
    me: Option<usize>,
    window: Option<Arc<Semaphore>>,
    sender_users: Arc<Vec<i64>>,
) {
    let mut order: Vec<Order> = sender_users.iter().map(|_| Order::default()).collect();
    let c = &shared.conns[conn];
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(close)) => {
                shared.error(format!("server closed the connection: {close:?}"));
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                shared.error(format!("connection failed: {e}"));
                return;
            }
        };
        let Some(d) = client::parse_delivery(&text) else {
            if text.contains("\"error\"") {
                shared.error(text.to_string());
                // A refused send never echoes: give its place in the window back.
                if let Some(w) = &window {
                    w.add_permits(1);
                }
            }
            continue;
        };
        let now = shared.now_ns();
        let Some(seen) = order.get_mut(d.sender) else {
            shared.error(format!("a delivery from unknown sender {}", d.sender));
            continue;
        };
        c.received.fetch_add(1, Relaxed);
        if sender_users[d.sender] != d.sender_user {
            shared.error(format!(
                "sender {} rendered as user {}, expected {}",
                d.sender, d.sender_user, sender_users[d.sender]
            ));
        }
        if d.seq == seen.next {
            seen.next += 1;
        } else if d.seq > seen.next {
            c.out_of_order.fetch_add(1, Relaxed);
            seen.missing.extend(seen.next..d.seq);
            seen.next = d.seq + 1;
        } else if seen.missing.remove(&d.seq) {
            c.out_of_order.fetch_add(1, Relaxed);
        } else {
            c.duplicated.fetch_add(1, Relaxed);
            continue;
        }
        if shared.phase.load(Relaxed) == MEASURE {
            let micros = (now.saturating_sub(d.sent_ns) / 1000).max(1);
            let mut h = c.latency.lock().unwrap_or_else(|p| p.into_inner());
            let _ = h.record(micros);
        }
        if me == Some(d.sender) {
            c.echoes.fetch_add(1, Relaxed);
            if let Some(w) = &window {
                w.add_permits(1);
            }
        }
    }
}

/// Sends while the window has room, until the drain starts.
async fn send(
    shared: Arc<Shared>,
    mut sink: SplitSink<Ws, Message>,
    me: usize,
    room: String,
    window: Arc<Semaphore>,
) {
    let mut seq = 0u64;
    loop {
        match tokio::time::timeout(client::STALL, window.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => {
                shared.error(format!("sender {me}: no echo for {:?}", client::STALL));
                break;
            }
        }
        if shared.phase.load(Relaxed) >= DRAIN {
            break;
        }
        let frame = client::message_send(&room, me, seq, shared.now_ns());
        if let Err(e) = sink.send(frame).await {
            shared.error(format!("sender {me}: {e}"));
            break;
        }
        seq += 1;
        shared.sent[me].fetch_add(1, Relaxed);
    }
    shared.senders_done.fetch_add(1, Relaxed);
    // Keep the write half (and so the connection) open until the run ends.
    std::future::pending::<()>().await;
}

/// A connection that only receives still heartbeats, so no idle timeout closes it.
pub async fn keep_alive(mut sink: SplitSink<Ws, Message>, every: f64) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
    tick.tick().await;
    loop {
        tick.tick().await;
        if sink.send(client::heartbeat()).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
