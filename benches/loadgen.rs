//! End-to-end load generator: one-to-one chats over real WebSockets, speaking only the
//! protocol, so it runs unchanged against chatd and against the reference implementation.
//!
//! Each of `--pairs` pairs of users shares a one-to-one room; in every pair one user sends
//! `--messages` messages one after another, each sent when the previous one reached the peer.
//! Reported: deliveries per second over the whole run, and send → peer latency percentiles.
//!
//! ```text
//! cargo bench --bench loadgen                              # chatd in-process (temp SQLite)
//! cargo bench --bench loadgen -- --messages 500 --pairs 4 \
//!     --baseline-url ws://127.0.0.1:8001/messaging/ --baseline-tokens /tmp/chat-reference/var/tokens.json
//! ```
//! With a baseline the same load runs against it in the same invocation and the result is
//! printed as a ratio. `--url URL --tokens FILE` measures an already running chatd instead of an
//! in-process one. Token files are the reference's format: `{"users": [{"id", "token"}, …]}`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chatd::auth::{issue, NewToken};
use chatd::config::Settings;
use chatd::startup::BackgroundServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Per-frame wait: a run that stalls this long is reported as failed, not hung.
const STALL: Duration = Duration::from_secs(30);

struct Options {
    messages: usize,
    pairs: usize,
    target: Option<(String, String)>,
    baseline: Option<(String, String)>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut o = Options {
        messages: 300,
        pairs: 4,
        target: None,
        baseline: None,
    };
    let (mut url, mut tokens, mut b_url, mut b_tokens) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => o.messages = value()?.parse().map_err(|_| "bad --messages")?,
            "--pairs" => o.pairs = value()?.parse().map_err(|_| "bad --pairs")?,
            "--url" => url = Some(value()?),
            "--tokens" => tokens = Some(value()?),
            "--baseline-url" => b_url = Some(value()?),
            "--baseline-tokens" => b_tokens = Some(value()?),
            // cargo bench forwards filters and flags meant for criterion; none apply here.
            _ => {}
        }
    }
    o.target = url.zip(tokens);
    o.baseline = b_url.zip(b_tokens);
    if o.messages == 0 || o.pairs == 0 {
        return Err("--messages and --pairs must be positive".into());
    }
    Ok(o)
}

fn read_tokens(path: &str) -> Result<HashMap<i64, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let users = doc.get("users").unwrap_or(&doc);
    Ok(users
        .as_array()
        .ok_or(format!("{path}: no users array"))?
        .iter()
        .filter_map(|u| Some((u["id"].as_i64()?, u["token"].as_str()?.to_string())))
        .collect())
}

async fn connect(url: &str, token: &str) -> Result<Ws, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Every connection starts with chat.notifications.
    recv(&mut ws).await?;
    Ok(ws)
}

async fn recv(ws: &mut Ws) -> Result<Value, String> {
    loop {
        match tokio::time::timeout(STALL, ws.next()).await {
            Err(_) => return Err("stalled".into()),
            Ok(Some(Ok(Message::Text(t)))) => {
                return serde_json::from_str(&t).map_err(|e| e.to_string())
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => return Err(format!("connection ended: {other:?}")),
        }
    }
}

async fn expect(ws: &mut Ws, event: &str) -> Result<Value, String> {
    loop {
        let frame = recv(ws).await?;
        if frame.get("error").is_some() {
            return Err(format!("error frame: {frame}"));
        }
        if frame["eventType"] == event {
            return Ok(frame["data"].clone());
        }
    }
}

async fn send(ws: &mut Ws, event_type: &str, data: Value) -> Result<(), String> {
    ws.send(Message::text(
        json!({"event_type": event_type, "data": data}).to_string(),
    ))
    .await
    .map_err(|e| e.to_string())
}

/// The pair's room: created, or found in `room.list` when it exists from an earlier run.
async fn room_of(a: &mut Ws, b_id: i64) -> Result<String, String> {
    send(
        a,
        "room.create",
        json!({"type": "OneToOneChat", "participants": [b_id]}),
    )
    .await?;
    let frame = recv(a).await?;
    if frame["eventType"] == "roomcreate.dispatch" {
        return Ok(frame["data"]["id"].as_str().unwrap_or_default().to_string());
    }
    send(a, "room.list", json!({})).await?;
    let list = expect(a, "roomlist.dispatch").await?;
    list.as_array()
        .into_iter()
        .flatten()
        .find(|r| r["peer"]["id"] == b_id)
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .ok_or_else(|| format!("no one-to-one room with user {b_id}"))
}

/// A pair ready to go: the sender's and the peer's connections and their room.
struct Pair {
    sender: Ws,
    peer: Ws,
    room: String,
}

async fn set_up_pair(url: &str, a: (i64, &str), b: (i64, &str)) -> Result<Pair, String> {
    let mut sender = connect(url, a.1).await?;
    let peer = connect(url, b.1).await?;
    let room = room_of(&mut sender, b.0).await?;
    Ok(Pair { sender, peer, room })
}

/// Sends `messages` one after another; returns each message's send → peer latency.
async fn drive_pair(mut pair: Pair, messages: usize) -> Result<Vec<Duration>, String> {
    let mut latencies = Vec::with_capacity(messages);
    for i in 0..messages {
        let started = Instant::now();
        send(
            &mut pair.sender,
            "message.send",
            json!({"room_id": pair.room, "content": format!("load message {i} <b>bold</b>")}),
        )
        .await?;
        expect(&mut pair.peer, "message.dispatch").await?;
        latencies.push(started.elapsed());
        expect(&mut pair.sender, "message.dispatch").await?;
    }
    Ok(latencies)
}

struct Report {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(url: &str, tokens: &HashMap<i64, String>, o: &Options) -> Result<Report, String> {
    let token = |id: i64| {
        tokens
            .get(&id)
            .map(String::as_str)
            .ok_or(format!("no token for user {id}"))
    };
    // Connections are opened one at a time (the reference refuses bursts of handshakes);
    // pair k is users 2k+1 and 2k+2, as the reference's seed script numbers them.
    let mut pairs = Vec::new();
    for k in 0..o.pairs as i64 {
        let (a, b) = (2 * k + 1, 2 * k + 2);
        pairs.push(set_up_pair(url, (a, token(a)?), (b, token(b)?)).await?);
    }
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|pair| tokio::spawn(drive_pair(pair, o.messages)))
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize];
    Ok(Report {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    })
}

fn print(name: &str, r: &Report) {
    println!(
        "{name:<10} {:>10.1} deliveries/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        r.per_second,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let db_path = std::env::temp_dir().join(format!("chatd-loadgen-{}.db", uuid::Uuid::new_v4()));
    // Keep the in-process server (if any) alive for the whole run.
    let mut _server = None;
    let (url, tokens) = match &o.target {
        Some((url, path)) => (url.clone(), read_tokens(path).unwrap_or_else(|e| fail(&e))),
        None => {
            let url = format!("sqlite://{}?mode=rwc", db_path.display());
            let settings =
                Settings::load_with(None, &[("server.port", "0"), ("database.url", &url)])
                    .unwrap_or_else(|e| fail(&e.to_string()));
            let server = BackgroundServer::start(settings.clone()).unwrap_or_else(|e| fail(&e));
            let tokens = (1..=2 * o.pairs as i64)
                .map(|id| {
                    let t = issue(
                        &settings.auth,
                        &NewToken {
                            user_id: id,
                            username: Some(format!("user{id}")),
                            ..Default::default()
                        },
                    )
                    .unwrap_or_else(|e| fail(&e.to_string()));
                    (id, t)
                })
                .collect();
            let url = format!("ws://127.0.0.1:{}/messaging/", server.port);
            _server = Some(server);
            (url, tokens)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "one-to-one load: {} pairs x {} sequential messages",
        o.pairs, o.messages
    );
    let ours = runtime
        .block_on(measure(&url, &tokens, &o))
        .unwrap_or_else(|e| fail(&format!("target: {e}")));
    print(
        if o.target.is_some() {
            "target"
        } else {
            "chatd"
        },
        &ours,
    );
    if let Some((b_url, b_tokens)) = &o.baseline {
        let b_tokens = read_tokens(b_tokens).unwrap_or_else(|e| fail(&e));
        let base = runtime
            .block_on(measure(b_url, &b_tokens, &o))
            .unwrap_or_else(|e| fail(&format!("baseline: {e}")));
        print("baseline", &base);
        println!(
            "ratio      {:>10.1}x deliveries/s, p50 latency {:.1}x lower",
            ours.per_second / base.per_second,
            base.p50.as_secs_f64() / ours.p50.as_secs_f64()
        );
    } else {
        println!("(no --baseline-url: pass one to get a same-run ratio)");
    }
    drop(_server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("loadgen: {message}");
    std::process::exit(1);
}
