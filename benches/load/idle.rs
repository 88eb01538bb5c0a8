//! `idle-connections`: N connections held open for D seconds, each sending only heartbeats.
//! The server's RSS per connection is (RSS with N) − (RSS with 0) on a fresh server; its CPU
//! while they idle should be the heartbeats' and nothing more.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client;
use crate::options::Options;
use crate::report::{Column, Progress};
use crate::server::{proc, Server};
use crate::traffic::round3;

pub const COLUMNS: &[Column] = &[
    Column {
        header: "connections",
        path: "connections",
    },
    Column {
        header: "connect s",
        path: "connect_s",
    },
    Column {
        header: "RSS@0 KiB",
        path: "rss_before_kib",
    },
    Column {
        header: "RSS@N KiB",
        path: "rss_with_connections_kib",
    },
    Column {
        header: "bytes/conn",
        path: "rss_per_connection_bytes",
    },
    Column {
        header: "idle CPU s",
        path: "server_cpu_idle_s",
    },
    Column {
        header: "µs/heartbeat",
        path: "server_cpu_per_heartbeat_us",
    },
    Column {
        header: "heartbeats",
        path: "heartbeats_sent",
    },
    Column {
        header: "answered",
        path: "heartbeats_answered",
    },
    Column {
        header: "errors",
        path: "errors",
    },
];

pub const HEADLINE: &[&str] = &["rss_per_connection_bytes", "server_cpu_idle_s", "connect_s"];

pub fn params(o: &Options, n: usize) -> Value {
    json!({"connections": n, "hold_s": o.hold, "heartbeat_s": o.heartbeat})
}

pub async fn run(server: &Server, o: &Options, n: usize) -> Result<Map<String, Value>, String> {
    // A fresh server, settled: its RSS with no connection.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = server.pid.and_then(proc::rss_kib);
    let users: Vec<i64> = (1..=n as i64).collect();
    let started = Instant::now();
    let conns = client::open_all(server, &users, o.connect_concurrency).await?;
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_n = server.pid.and_then(proc::rss_kib);

    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Heartbeats spread evenly, so that every connection sends at least one while held.
    let spread = o.heartbeat.min(o.hold * 0.8);
    let cpu0 = proc::cpu_seconds(server.pid);
    let held = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let first = Duration::from_secs_f64(spread * i as f64 / n as f64);
            let every = Duration::from_secs_f64(o.heartbeat);
            let (sent, answered, errors) = (sent.clone(), answered.clone(), errors.clone());
            tokio::spawn(async move {
                let (mut sink, mut stream) = ws.split();
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if sink.send(client::heartbeat()).await.is_err() {
                                errors.fetch_add(1, Relaxed);
                                return;
                            }
                            sent.fetch_add(1, Relaxed);
                        }
                        frame = stream.next() => match frame {
                            Some(Ok(Message::Text(t))) if t.contains("success") => {
                                answered.fetch_add(1, Relaxed);
                            }
                            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                            _ => {
                                errors.fetch_add(1, Relaxed);
                                return;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let mut progress = Progress::new(&format!("{} idle {n}", server.name), o.hold);
    while held.elapsed().as_secs_f64() < o.hold {
        tokio::time::sleep(Duration::from_millis(250)).await;
        progress.show(sent.load(Relaxed));
    }
    progress.done();
    let hold_s = held.elapsed().as_secs_f64();
    let cpu1 = proc::cpu_seconds(server.pid);
    for t in &tasks {
        t.abort();
    }

    let mut out = Map::new();
    out.insert("connections".into(), json!(n));
    out.insert("connect_s".into(), json!(round3(connect_s)));
    out.insert("rss_before_kib".into(), json!(rss0));
    out.insert("rss_with_connections_kib".into(), json!(rss_n));
    let per_conn = rss0
        .zip(rss_n)
        .map(|(a, b)| ((b as f64 - a as f64) * 1024.0 / n as f64).round());
    out.insert("rss_per_connection_bytes".into(), json!(per_conn));
    out.insert("hold_s".into(), json!(round3(hold_s)));
    let cpu = cpu0.zip(cpu1).map(|(a, b)| round3(b - a));
    out.insert("server_cpu_idle_s".into(), json!(cpu));
    out.insert(
        "server_cpu_idle_pct".into(),
        json!(cpu.map(|c| round3(c / hold_s * 100.0))),
    );
    let heartbeats = sent.load(Relaxed);
    out.insert(
        "server_cpu_per_heartbeat_us".into(),
        json!(cpu
            .filter(|_| heartbeats > 0)
            .map(|c| (c * 1e6 / heartbeats as f64).round())),
    );
    out.insert("heartbeats_sent".into(), json!(heartbeats));
    out.insert("heartbeats_answered".into(), json!(answered.load(Relaxed)));
    out.insert("errors".into(), json!(errors.load(Relaxed)));
    Ok(out)
}
