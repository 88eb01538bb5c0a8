//! `receipts`: what the events that follow a message cost. One GroupChat of M members; in each
//! round the first member sends `--batch` messages (one at a time, each waited for until every
//! member has it), then every other member answers them with `--event`:
//!
//! - `read`: one `message.read` per message (single mode);
//! - `read-bulk`: one `message.read` of the round's messages (bulk mode);
//! - `react`: per message `message.react` add 👍, add ❤️ (a replace), remove: three events;
//! - `react-add`: per message one `message.react` add;
//! - `ack`: one `message.acknowledged` of the round's messages;
//! - `mix`: per message a `message.read` from every reader, a `message.react` add from every
//!   third, and one `message.acknowledged` of the round's messages from each.
//!
//! A round ends when every member has every dispatch the round's events owe it (a read or a
//! reaction is dispatched to the whole room, a delivery receipt to the sender alone); its
//! latency is from the first event sent to the last dispatch received. At the end every
//! member's dispatches are counted per (kind, message): each must have arrived exactly as
//! often as owed. Server CPU, voluntary context switches (all of the server's threads) and
//! the statements it ran (`/metrics`) are taken over the measured rounds and divided by the
//! events, the round's sends included in the CPU.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Ws, STALL};
use crate::options::Options;
use crate::report::{latency_json, new_histogram, Column};
use crate::server::{proc, Server};

/// What the readers answer each round with (`--event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Read,
    ReadBulk,
    React,
    ReactAdd,
    Ack,
    Mix,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::Read,
        Event::ReadBulk,
        Event::React,
        Event::ReactAdd,
        Event::Ack,
        Event::Mix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Read => "read",
            Event::ReadBulk => "read-bulk",
            Event::React => "react",
            Event::ReactAdd => "react-add",
            Event::Ack => "ack",
            Event::Mix => "mix",
        }
    }
}

pub const DEFAULT_MEMBERS: usize = 10;

pub const COLUMNS: &[Column] = &[
    Column {
        header: "events/s",
        path: "events_per_s",
    },
    Column {
        header: "round p50 ms",
        path: "round_ms/p50",
    },
    Column {
        header: "round p99 ms",
        path: "round_ms/p99",
    },
    Column {
        header: "srv µs/event",
        path: "server_cpu_us_per_event",
    },
    Column {
        header: "stmts/event",
        path: "statements_per_event",
    },
    Column {
        header: "vol.sw/event",
        path: "voluntary_switches_per_event",
    },
    Column {
        header: "missing",
        path: "missing",
    },
    Column {
        header: "dup",
        path: "duplicated",
    },
    Column {
        header: "errors",
        path: "errors",
    },
    Column {
        header: "srv CPU s",
        path: "server_cpu_s",
    },
];

pub const HEADLINE: &[&str] = &["events_per_s", "server_cpu_us_per_event"];

pub fn members(o: &Options) -> usize {
    o.receipt_members.unwrap_or(DEFAULT_MEMBERS)
}

pub fn params(o: &Options) -> Value {
    json!({"members": members(o), "event": o.event.name(), "batch": o.batch,
           "duration_s": o.duration, "warmup_s": o.warmup})
}

/// Dispatch kinds a member counts.
const MESSAGE: u8 = 0;
const READ: u8 = 1;
const REACTION: u8 = 2;
const DELIVERED: u8 = 3;

fn kind_of(event_type: &str) -> Option<u8> {
    match event_type {
        "message.dispatch" => Some(MESSAGE),
        "readreceipt.dispatch" => Some(READ),
        "reaction.dispatch" => Some(REACTION),
        "messagedelivered.dispatch" => Some(DELIVERED),
        _ => None,
    }
}

/// What the reading side of every connection shares with the driver.
struct Shared {
    /// Dispatches of the counted kinds received, all members together.
    received: AtomicU64,
    arrived: Notify,
    errors: AtomicU64,
    error_samples: Mutex<Vec<String>>,
    /// Per member: (kind, message id) → how many times it arrived.
    tallies: Vec<Mutex<HashMap<(u8, String), u64>>>,
}

/// The message ids a dispatch is about.
fn ids_of(kind: u8, data: &Value) -> Vec<String> {
    let id = |v: &Value| v["id"].as_str().map(str::to_string);
    match (kind, data) {
        (REACTION, d) => id(&d["message"]).into_iter().collect(),
        (_, Value::Array(views)) => views.iter().filter_map(id).collect(),
        (_, d) => id(d).into_iter().collect(),
    }
}

async fn read_frames(
    mut stream: futures_util::stream::SplitStream<Ws>,
    member: usize,
    shared: Arc<Shared>,
    own_messages: Option<mpsc::UnboundedSender<String>>,
) {
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame.get("error").is_some() {
            shared.errors.fetch_add(1, Relaxed);
            let mut samples = shared
                .error_samples
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if samples.len() < 5 {
                samples.push(text.to_string());
            }
            // An error frame ends an event as its dispatch would.
            shared.received.fetch_add(1, Relaxed);
            shared.arrived.notify_one();
            continue;
        }
        let Some(kind) = frame["eventType"].as_str().and_then(kind_of) else {
            continue;
        };
        let ids = ids_of(kind, &frame["data"]);
        if kind == MESSAGE {
            if let (Some(tx), Some(id)) = (&own_messages, ids.first()) {
                let _ = tx.send(id.clone());
            }
        }
        {
            let mut tally = shared.tallies[member]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // A bulk read of one room is one dispatch: counted once, under each of its ids.
            for id in ids {
                *tally.entry((kind, id)).or_default() += 1;
            }
        }
        shared.received.fetch_add(1, Relaxed);
        shared.arrived.notify_one();
    }
}

/// Waits until `shared.received` reaches `target`.
async fn received(shared: &Shared, target: u64) -> Result<(), String> {
    let deadline = Instant::now() + STALL;
    loop {
        let notified = shared.arrived.notified();
        if shared.received.load(Relaxed) >= target {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline.into(), notified)
            .await
            .is_err()
        {
            return Err(format!(
                "stalled: {} of {target} dispatches",
                shared.received.load(Relaxed)
            ));
        }
    }
}

type Sink = SplitSink<Ws, Message>;

async fn emit(sink: &mut Sink, event_type: &str, data: Value) -> Result<(), String> {
    let frame = json!({"event_type": event_type, "data": data}).to_string();
    sink.send(Message::text(frame))
        .await
        .map_err(|e| e.to_string())
}

/// The events of one round, sent now; returns (events sent, dispatches owed, what each member
/// is owed per (kind, message)).
async fn answer(
    sinks: &mut [Sink],
    event: Event,
    ids: &[String],
    owed: &mut [HashMap<(u8, String), u64>],
) -> Result<(u64, u64), String> {
    let m = sinks.len();
    let (mut events, mut dispatches) = (0u64, 0u64);
    let to_all = |owed: &mut [HashMap<(u8, String), u64>], kind: u8, id: &str| {
        for tally in owed.iter_mut() {
            *tally.entry((kind, id.to_string())).or_default() += 1;
        }
        m as u64
    };
    for (reader, sink) in sinks.iter_mut().enumerate().skip(1) {
        let reads = matches!(event, Event::Read | Event::Mix);
        let reacts = match event {
            Event::React | Event::ReactAdd => true,
            Event::Mix => reader % 3 == 1,
            _ => false,
        };
        for id in ids {
            if reads {
                emit(sink, "message.read", json!({"message_id": id})).await?;
                events += 1;
                dispatches += to_all(owed, READ, id);
            }
            if reacts {
                let changes: &[Value] = if event == Event::React {
                    &[
                        json!({"message_id": id, "type": "add", "reaction_content": "👍"}),
                        json!({"message_id": id, "type": "add", "reaction_content": "❤️"}),
                        json!({"message_id": id, "type": "remove"}),
                    ]
                } else {
                    &[json!({"message_id": id, "type": "add", "reaction_content": "👍"})]
                };
                for change in changes {
                    emit(sink, "message.react", change.clone()).await?;
                    events += 1;
                    dispatches += to_all(owed, REACTION, id);
                }
            }
        }
        if event == Event::ReadBulk {
            emit(sink, "message.read", json!({"message_id": ids})).await?;
            events += 1;
            // One array for the room, counted under each id.
            for id in ids {
                to_all(owed, READ, id);
            }
            dispatches += m as u64;
        }
        if matches!(event, Event::Ack | Event::Mix) {
            emit(sink, "message.acknowledged", json!({"message_id": ids})).await?;
            events += 1;
            // To the sender alone: one array of the messages.
            for id in ids {
                *owed[0].entry((DELIVERED, id.clone())).or_default() += 1;
            }
            dispatches += 1;
        }
    }
    Ok((events, dispatches))
}

/// Voluntary context switches of every thread of `pid`.
fn voluntary_switches(pid: Option<u32>) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", pid?)).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Statements the server has run so far (`chatd_db_query_duration_seconds_count`, all kinds).
async fn statements(server: &Server) -> Option<f64> {
    let addr = server
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()?
        .to_string();
    let text = tokio::task::spawn_blocking(move || client::http_get(&addr, "/metrics"))
        .await
        .ok()?
        .ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("chatd_db_query_duration_seconds_count"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum(),
    )
}

pub async fn run(server: &Server, o: &Options) -> Result<Map<String, Value>, String> {
    let m = members(o);
    if m < 2 {
        return Err("receipts needs at least two members".into());
    }
    let users: Vec<i64> = (1..=m as i64).collect();
    let mut conns = client::open_all(server, &users, o.connect_concurrency).await?;
    let name = format!(
        "receipts {}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let room = client::create_group(&mut conns, &users, &name).await?;

    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        arrived: Notify::new(),
        errors: AtomicU64::new(0),
        error_samples: Mutex::new(Vec::new()),
        tallies: (0..m).map(|_| Mutex::new(HashMap::new())).collect(),
    });
    let (own_tx, mut own_rx) = mpsc::unbounded_channel();
    let mut sinks = Vec::with_capacity(m);
    let mut readers = Vec::with_capacity(m);
    for (member, ws) in conns.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        sinks.push(sink);
        let own = (member == 0).then(|| own_tx.clone());
        readers.push(tokio::spawn(read_frames(
            stream,
            member,
            shared.clone(),
            own,
        )));
    }
    drop(own_tx);

    let mut owed: Vec<HashMap<(u8, String), u64>> = vec![HashMap::new(); m];
    let mut rounds = new_histogram();
    let mut expected = 0u64;
    let mut seq = 0u64;
    let started = Instant::now();
    let warmup = Duration::from_secs_f64(o.warmup);
    let measured = Duration::from_secs_f64(o.duration);
    let mut window: Option<(Instant, f64, Option<u64>, Option<f64>)> = None;
    let (mut events, mut sends) = (0u64, 0u64);
    let mut last_heartbeat = Instant::now();
    loop {
        let now = Instant::now();
        if window.is_none() && now >= started + warmup {
            window = Some((
                now,
                proc::cpu_seconds(server.pid).unwrap_or(0.0),
                voluntary_switches(server.pid),
                statements(server).await,
            ));
        }
        if let Some((from, ..)) = window {
            if now >= from + measured {
                break;
            }
        }
        if last_heartbeat.elapsed().as_secs_f64() > o.heartbeat / 2.0 {
            for sink in &mut sinks {
                sink.send(client::heartbeat())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            last_heartbeat = Instant::now();
        }
        // The round's messages, one at a time: each delivered to every member first.
        let mut ids = Vec::with_capacity(o.batch);
        for _ in 0..o.batch {
            seq += 1;
            let content = format!("0 {seq} 0 a message to be read, reacted to and acknowledged");
            emit(
                &mut sinks[0],
                "message.send",
                json!({"room_id": room, "content": content}),
            )
            .await?;
            expected += m as u64;
            received(&shared, expected).await?;
            let id = tokio::time::timeout(STALL, own_rx.recv())
                .await
                .map_err(|_| "no message id".to_string())?
                .ok_or("the sender's connection ended")?;
            for tally in owed.iter_mut() {
                *tally.entry((MESSAGE, id.clone())).or_default() += 1;
            }
            ids.push(id);
        }
        let round = Instant::now();
        let (sent, dispatches) = answer(&mut sinks, o.event, &ids, &mut owed).await?;
        expected += dispatches;
        received(&shared, expected).await?;
        if window.is_some() {
            let _ = rounds.record(round.elapsed().as_micros().max(1) as u64);
            events += sent;
            sends += o.batch as u64;
        }
    }
    let (from, cpu0, switches0, statements0) = window.ok_or("no measured window")?;
    let elapsed = from.elapsed().as_secs_f64();
    let cpu = proc::cpu_seconds(server.pid).map(|c| c - cpu0);
    let switches = voluntary_switches(server.pid)
        .zip(switches0)
        .map(|(b, a)| b.saturating_sub(a));
    let stmts = statements(server)
        .await
        .zip(statements0)
        .map(|(b, a)| b - a);
    // A moment for anything late or duplicated to show.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for reader in &readers {
        reader.abort();
    }

    let (mut missing, mut duplicated, mut unexpected) = (0u64, 0u64, 0u64);
    for (member, want) in owed.iter().enumerate() {
        let got = shared.tallies[member]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (key, &n) in want {
            let g = got.get(key).copied().unwrap_or(0);
            missing += n.saturating_sub(g);
            duplicated += g.saturating_sub(n);
        }
        unexpected += got.keys().filter(|k| !want.contains_key(*k)).count() as u64;
    }
    let per_event = |v: Option<f64>| v.map(|v| v / events.max(1) as f64);
    let mut out = Map::new();
    out.insert("events".into(), events.into());
    out.insert("sends".into(), sends.into());
    out.insert("events_per_s".into(), (events as f64 / elapsed).into());
    out.insert("round_ms".into(), latency_json(&rounds));
    out.insert("server_cpu_s".into(), cpu.into());
    out.insert(
        "server_cpu_us_per_event".into(),
        per_event(cpu.map(|c| c * 1e6)).into(),
    );
    out.insert("statements_per_event".into(), per_event(stmts).into());
    out.insert(
        "voluntary_switches_per_event".into(),
        per_event(switches.map(|s| s as f64)).into(),
    );
    out.insert("missing".into(), missing.into());
    out.insert("duplicated".into(), (duplicated + unexpected).into());
    out.insert("errors".into(), shared.errors.load(Relaxed).into());
    let samples = shared
        .error_samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !samples.is_empty() {
        out.insert("error_samples".into(), samples.into());
    }
    out.insert("load_average_end".into(), json!(proc::load_average()));
    Ok(out)
}
