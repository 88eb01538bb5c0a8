//! `history`: `room.messages` (messages.md §13) paging through a room of 10⁶ messages.
//!
//! The room is made over the protocol; its messages are written straight into the server's
//! database in bulk (multi-row inserts of the same rows `message.send` stores, created a
//! millisecond apart), which takes seconds instead of the hours 10⁶ sends would. Then pages
//! are requested one after another from the newest for the measured window, and the middle
//! and last pages (the deepest offsets) a few times each. Every page is checked: full,
//! newest first, continuing where the previous one ended.
//!
//! A server without `room.messages` (it answers `invalid event type`) is reported as pending.

use std::time::{Duration, Instant};

use chatd::config::Settings;
use entity::message;
use sea_orm::{EntityTrait, Set, TransactionTrait};
use serde_json::{json, Map, Value};

use crate::client::{self, Ws};
use crate::options::Options;
use crate::report::{latency_json, new_histogram, Column, Progress};
use crate::server::{proc, Server};
use crate::traffic::round3;

/// Rows per INSERT: 11 columns each stays under SQLite's 32,766 bound parameters.
const ROWS_PER_INSERT: usize = 2_000;
/// INSERTs per transaction.
const INSERTS_PER_TRANSACTION: usize = 10;
/// How many times each deep page is fetched.
const DEEP_REPEATS: usize = 3;

pub const COLUMNS: &[Column] = &[
    Column {
        header: "messages",
        path: "room_messages",
    },
    Column {
        header: "seed s",
        path: "seed_s",
    },
    Column {
        header: "pages/s",
        path: "pages_per_s",
    },
    Column {
        header: "p50 ms",
        path: "page_latency_ms/p50",
    },
    Column {
        header: "p99 ms",
        path: "page_latency_ms/p99",
    },
    Column {
        header: "middle ms",
        path: "middle_page_ms",
    },
    Column {
        header: "last ms",
        path: "last_page_ms",
    },
    Column {
        header: "page bytes",
        path: "page_bytes",
    },
    Column {
        header: "errors",
        path: "errors",
    },
    Column {
        header: "srv CPU s",
        path: "server_cpu_s",
    },
    Column {
        header: "peak RSS KiB",
        path: "server_peak_rss_kib",
    },
];

pub const HEADLINE: &[&str] = &["pages_per_s", "page_latency_ms/p50"];

pub fn params(o: &Options) -> Value {
    json!({"room_messages": o.history_messages, "page_size": o.page_size,
           "duration_s": o.duration})
}

/// `Ok(Err(reason))`: the server cannot page history yet.
pub async fn run(
    server: &Server,
    o: &Options,
) -> Result<Result<Map<String, Value>, String>, String> {
    let database = server
        .database_url
        .clone()
        .ok_or("history seeds the database of a chatd started by this bench")?;
    let users = [1, 2];
    let mut conns = client::open_all(server, &users, 2).await?;
    let room = client::create_group(&mut conns, &users, "history").await?;
    let ws = &mut conns[0];
    let (text, _) = page(ws, &room, 1, 1).await?;
    if text.contains("invalid event type") {
        return Ok(Err(
            "room.messages is not implemented by this server yet".into()
        ));
    }

    let seeded = Instant::now();
    seed(&database, &room, &users, o.history_messages).await?;
    let seed_s = seeded.elapsed().as_secs_f64();

    let size = o.page_size;
    let pages = o.history_messages.div_ceil(size).max(1);
    let mut latency = new_histogram();
    let (mut errors, mut samples, mut bytes) = (0u64, Vec::new(), 0usize);
    let mut fail = |what: String| {
        errors += 1;
        if samples.len() < 3 {
            samples.push(what);
        }
    };
    let cpu0 = proc::cpu_seconds(server.pid);
    let started = Instant::now();
    let mut progress = Progress::new(&format!("{} history", server.name), o.duration);
    let (mut served, mut previous_oldest) = (0u64, None::<String>);
    while started.elapsed().as_secs_f64() < o.duration && (served as usize) < pages {
        let number = served as usize + 1;
        let (text, took) = page(ws, &room, number, size).await?;
        let _ = latency.record((took.as_micros() as u64).max(1));
        bytes = bytes.max(text.len());
        match check(
            &text,
            number,
            size,
            pages,
            o.history_messages,
            &previous_oldest,
        ) {
            Ok(oldest) => previous_oldest = Some(oldest),
            Err(e) => fail(format!("page {number}: {e}")),
        }
        served += 1;
        progress.show(served);
    }
    progress.done();
    let window_s = started.elapsed().as_secs_f64();
    let cpu1 = proc::cpu_seconds(server.pid);
    let middle = slowest_of(ws, &room, pages / 2 + 1, size).await?;
    let last = slowest_of(ws, &room, pages, size).await?;

    let mut out = Map::new();
    out.insert("room_messages".into(), json!(o.history_messages));
    out.insert("page_size".into(), json!(size));
    out.insert("seed_s".into(), json!(round3(seed_s)));
    out.insert("pages".into(), json!(served));
    out.insert(
        "pages_per_s".into(),
        json!(round3(served as f64 / window_s)),
    );
    out.insert(
        "messages_per_s".into(),
        json!((served as f64 * size as f64 / window_s).round()),
    );
    out.insert("page_latency_ms".into(), latency_json(&latency));
    out.insert("middle_page_ms".into(), json!(middle));
    out.insert("last_page_ms".into(), json!(last));
    out.insert("page_bytes".into(), json!(bytes));
    out.insert("errors".into(), json!(errors));
    if !samples.is_empty() {
        out.insert("error_samples".into(), json!(samples));
    }
    out.insert(
        "server_cpu_s".into(),
        json!(cpu0.zip(cpu1).map(|(a, b)| round3(b - a))),
    );
    Ok(Ok(out))
}

/// Asks for one page; returns the answer as received and how long it took.
async fn page(
    ws: &mut Ws,
    room: &str,
    number: usize,
    size: usize,
) -> Result<(String, Duration), String> {
    let asked = Instant::now();
    client::emit(
        ws,
        "room.messages",
        json!({"room_id": room, "paginate": {"page": number, "size": size}}),
    )
    .await?;
    let text = client::next_text(ws).await?;
    Ok((text, asked.elapsed()))
}

/// The slowest of a few fetches of one (deep) page, in milliseconds.
async fn slowest_of(ws: &mut Ws, room: &str, number: usize, size: usize) -> Result<f64, String> {
    let mut slowest = Duration::ZERO;
    for _ in 0..DEEP_REPEATS {
        let (text, took) = page(ws, room, number, size).await?;
        slowest = slowest.max(took);
        if !text.contains("roommessages.dispatch") {
            return Err(format!("page {number}: {text:.200}"));
        }
    }
    Ok(round3(slowest.as_secs_f64() * 1000.0))
}

/// A page must be full (but the last), newest first, and continue the previous page; returns
/// the `created_at` of its oldest message.
fn check(
    text: &str,
    number: usize,
    size: usize,
    pages: usize,
    total: usize,
    previous_oldest: &Option<String>,
) -> Result<String, String> {
    let frame: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if frame["eventType"] != "roommessages.dispatch" {
        return Err(format!("{text:.200}"));
    }
    let data = &frame["data"];
    let messages = data["data"]["messages"].as_array().ok_or("no messages")?;
    let want = if number < pages {
        size
    } else {
        total - size * (pages - 1)
    };
    if messages.len() != want || data["page"] != number || data["has_next"] != (number < pages) {
        return Err(format!(
            "{} messages, page {}, has_next {} (want {want}, {number}, {})",
            messages.len(),
            data["page"],
            data["has_next"],
            number < pages
        ));
    }
    let times: Vec<&str> = messages
        .iter()
        .map(|m| m["created_at"].as_str().unwrap_or_default())
        .collect();
    // The seeded timestamps share one format, so their strings order as their times do.
    let newest_first = times.windows(2).all(|w| w[0] > w[1]);
    let continues = previous_oldest.as_deref().is_none_or(|p| times[0] < p);
    if !newest_first || !continues {
        return Err("messages out of order".into());
    }
    Ok(times.last().copied().unwrap_or_default().to_string())
}

/// Writes `count` messages into `room`, alternately from `users`, one millisecond apart and
/// ending now.
async fn seed(database: &str, room: &str, users: &[i64], count: usize) -> Result<(), String> {
    let settings =
        Settings::load_with(None, &[("database.url", database)]).map_err(|e| e.to_string())?;
    let db = chatd::store::connect(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    let room = uuid::Uuid::parse_str(room).map_err(|e| e.to_string())?;
    let start = chrono::Utc::now() - chrono::Duration::milliseconds(count as i64 + 1000);
    let mut progress = Progress::new("seeding history", 0.0);
    let mut written = 0usize;
    while written < count {
        let txn = db.begin().await.map_err(|e| e.to_string())?;
        for _ in 0..INSERTS_PER_TRANSACTION {
            let n = ROWS_PER_INSERT.min(count - written);
            if n == 0 {
                break;
            }
            let rows = (written..written + n).map(|i| {
                let at = start + chrono::Duration::milliseconds(i as i64);
                message::ActiveModel {
                    id: Set(uuid::Uuid::new_v4()),
                    room_id: Set(room),
                    sender_id: Set(users[i % users.len()]),
                    content: Set(format!("history message {i}")),
                    is_deleted: Set(false),
                    created_at: Set(at),
                    updated_at: Set(at),
                    parent_message_id: Set(None),
                    is_forwarded: Set(false),
                    forwarded_from_id: Set(None),
                    is_edited: Set(false),
                }
            });
            message::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(|e| e.to_string())?;
            written += n;
        }
        txn.commit().await.map_err(|e| e.to_string())?;
        progress.show(written as u64);
    }
    progress.done();
    db.close().await.map_err(|e| e.to_string())
}
