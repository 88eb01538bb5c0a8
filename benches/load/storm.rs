//! `reconnect-storm`: U users, each owed K notifications, reconnect at once (at most
//! `--connect-concurrency` handshakes in flight). Measured: the time until every connection
//! has its `chat.notifications`, each connection's time to it, the frames' sizes, and that
//! every frame holds exactly K items.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use crate::client;
use crate::options::Options;
use crate::report::{latency_json, new_histogram, Column};
use crate::server::{proc, Server};
use crate::traffic::round3;

/// Members of each GroupChat the notifications are seeded through (plus the seeder).
const GROUP: usize = 500;

pub const COLUMNS: &[Column] = &[
    Column {
        header: "users",
        path: "users",
    },
    Column {
        header: "pending",
        path: "pending_per_user",
    },
    Column {
        header: "all in s",
        path: "all_notified_s",
    },
    Column {
        header: "p50 ms",
        path: "time_to_notifications_ms/p50",
    },
    Column {
        header: "p99 ms",
        path: "time_to_notifications_ms/p99",
    },
    Column {
        header: "max ms",
        path: "time_to_notifications_ms/max",
    },
    Column {
        header: "frame B p50",
        path: "frame_bytes/p50",
    },
    Column {
        header: "frame B max",
        path: "frame_bytes/max",
    },
    Column {
        header: "wrong",
        path: "wrong_frames",
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

pub const HEADLINE: &[&str] = &["all_notified_s", "time_to_notifications_ms/p99"];

pub fn params(o: &Options) -> Value {
    json!({"users": o.users, "pending_per_user": o.pending,
           "connect_concurrency": o.connect_concurrency})
}

pub async fn run(server: &Server, o: &Options) -> Result<Map<String, Value>, String> {
    let users: Vec<i64> = (1..=o.users as i64).collect();
    let seeder = o.users as i64 + 1;
    // 1. A first connection creates each user; then everybody goes away.
    drop(client::open_all(server, &users, o.connect_concurrency).await?);
    // 2. The seeder writes K messages into groups of the users while they are offline.
    let (mut ws, _) = client::open(server, seeder).await?;
    for (g, members) in users.chunks(GROUP).enumerate() {
        let name = format!("storm {g}");
        client::emit(
            &mut ws,
            "room.create",
            json!({"type": "GroupChat", "name": name, "participants": members,
                   "max_participants": members.len() + 1}),
        )
        .await?;
        let room = client::expect(&mut ws, "roomcreate.dispatch", |d| {
            d["name"] == name.as_str()
        })
        .await?;
        for i in 0..o.pending {
            let content = format!("pending {i}");
            client::emit(
                &mut ws,
                "message.send",
                json!({"room_id": room["id"], "content": content}),
            )
            .await?;
            client::expect(&mut ws, "message.dispatch", |d| {
                d["content"] == content.as_str()
            })
            .await?;
        }
    }
    drop(ws);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. Everybody at once.
    let gate = Arc::new(Semaphore::new(o.connect_concurrency));
    let cpu0 = proc::cpu_seconds(server.pid);
    let started = Instant::now();
    let tasks: Vec<_> = users
        .iter()
        .map(|&u| {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
                let (ws, greeting) = client::open(server, u).await?;
                Ok::<_, String>((ws, greeting.unwrap_or_default(), started.elapsed()))
            }
        })
        .collect();
    let results = futures_util::future::join_all(tasks).await;
    let all_s = started.elapsed().as_secs_f64();
    let cpu1 = proc::cpu_seconds(server.pid);

    let (mut times, mut sizes) = (new_histogram(), new_histogram());
    let (mut wrong, mut errors, mut samples) = (0u64, 0u64, Vec::new());
    let mut open = Vec::new();
    for result in results {
        match result {
            Ok((ws, greeting, at)) => {
                let _ = times.record((at.as_micros() as u64).max(1));
                let _ = sizes.record(greeting.len().max(1) as u64);
                let frame: Value = serde_json::from_str(&greeting).unwrap_or_default();
                let items: usize = frame["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, v)| v.as_array().map_or(0, Vec::len))
                    .sum();
                if frame["eventType"] != "chat.notifications" || items != o.pending {
                    wrong += 1;
                    if samples.len() < 3 {
                        samples.push(format!("{items} items: {:.200}", greeting));
                    }
                }
                open.push(ws);
            }
            Err(e) => {
                errors += 1;
                if samples.len() < 3 {
                    samples.push(e);
                }
            }
        }
    }
    drop(open);

    let mut out = Map::new();
    out.insert("users".into(), json!(o.users));
    out.insert("pending_per_user".into(), json!(o.pending));
    out.insert("all_notified_s".into(), json!(round3(all_s)));
    out.insert(
        "notifications_per_s".into(),
        json!(((o.users * o.pending) as f64 / all_s).round()),
    );
    out.insert("time_to_notifications_ms".into(), latency_json(&times));
    let bytes = |q: f64| sizes.value_at_quantile(q);
    out.insert(
        "frame_bytes".into(),
        json!({"min": sizes.min(), "p50": bytes(0.5), "max": sizes.max()}),
    );
    out.insert("wrong_frames".into(), json!(wrong));
    out.insert("errors".into(), json!(errors));
    if !samples.is_empty() {
        out.insert("error_samples".into(), json!(samples));
    }
    out.insert(
        "server_cpu_s".into(),
        json!(cpu0.zip(cpu1).map(|(a, b)| round3(b - a))),
    );
    Ok(out)
}
