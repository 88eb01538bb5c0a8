//! The load client's side of the protocol: connecting as a user, the frames the scenarios
//! send, and the one parse every delivered message goes through.
//!
//! A delivery is parsed with serde_json into a small borrowed struct (sender id and content),
//! as the ceiling's client does, so that the client costs the same per frame against every
//! server and the ratios are fair. The content carries what the measurement needs:
//! `"<sender index> <sequence number> <send time, ns> …"`; every server echoes it.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::server::{Flavor, Server};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The longest wait for one expected frame during set-up: a stalled server fails the run
/// instead of hanging it.
pub const STALL: Duration = Duration::from_secs(60);

/// Handshake attempts against the reference, which now and then resets one even when they
/// come one at a time. chatd and the ceiling get one attempt: a reset there is a finding.
const REFERENCE_ATTEMPTS: u32 = 5;

/// How often connections opened during a slow set-up heartbeat.
const SETUP_HEARTBEAT: Duration = Duration::from_secs(10);

/// Opens a connection as `user_id`. For servers that greet (chatd, the reference) the
/// `chat.notifications` frame is read and returned.
pub async fn open(server: &Server, user_id: i64) -> Result<(Ws, Option<String>), String> {
    let attempts = match server.flavor {
        Flavor::Reference => REFERENCE_ATTEMPTS,
        Flavor::Chatd | Flavor::Ceiling => 1,
    };
    let mut attempt = 1;
    loop {
        match open_once(server, user_id).await {
            Err(e) if attempt < attempts => {
                log_retry(user_id, &e);
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn log_retry(user_id: i64, error: &str) {
    eprintln!("user {user_id}: {error}; retrying");
}

async fn open_once(server: &Server, user_id: i64) -> Result<(Ws, Option<String>), String> {
    let url = server.url_for(user_id)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    // The reference's origin validator refuses handshakes without an Origin header.
    let origin = server
        .url
        .replacen("ws://", "http://", 1)
        .split("/messaging")
        .next()
        .unwrap_or_default()
        .to_string();
    if let Ok(value) = origin.parse() {
        request.headers_mut().insert("Origin", value);
    }
    let (mut ws, _) = tokio::time::timeout(
        STALL,
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .map_err(|_| format!("user {user_id}: handshake timed out"))?
    .map_err(|e| format!("user {user_id}: connect: {e}"))?;
    let greeting = match server.flavor {
        Flavor::Ceiling => None,
        Flavor::Chatd | Flavor::Reference => Some(next_text(&mut ws).await?),
    };
    Ok((ws, greeting))
}

/// Opens connections for `users` in order, `concurrency` handshakes at a time (the
/// reference gets one at a time: it resets connections when many arrive at once).
pub async fn open_all(
    server: &Server,
    users: &[i64],
    concurrency: usize,
) -> Result<Vec<Ws>, String> {
    if server.flavor == Flavor::Reference {
        return open_one_by_one(server, users).await;
    }
    stream::iter(users.iter().map(|&u| async move { open(server, u).await }))
        .buffered(concurrency)
        .map_ok(|(ws, _)| ws)
        .try_collect()
        .await
}

/// One handshake at a time. A handshake can take seconds (the reference replays every
/// pending notification), so the connections already open heartbeat meanwhile rather than
/// reach the server's inactivity threshold before the run starts.
async fn open_one_by_one(server: &Server, users: &[i64]) -> Result<Vec<Ws>, String> {
    let mut conns: Vec<Ws> = Vec::with_capacity(users.len());
    let mut last_heartbeat = Instant::now();
    for &user in users {
        if last_heartbeat.elapsed() > SETUP_HEARTBEAT {
            for ws in &mut conns {
                ws.send(heartbeat()).await.map_err(|e| e.to_string())?;
            }
            last_heartbeat = Instant::now();
        }
        conns.push(open(server, user).await?.0);
    }
    Ok(conns)
}

/// The next text frame (control frames skipped).
pub async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match tokio::time::timeout(STALL, ws.next()).await {
            Err(_) => return Err("stalled waiting for a frame".into()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
            Ok(other) => return Err(format!("connection ended: {other:?}")),
        }
    }
}

/// Sends `{"event_type": event_type, "data": data}`.
pub async fn emit(ws: &mut Ws, event_type: &str, data: Value) -> Result<(), String> {
    let frame = json!({"event_type": event_type, "data": data}).to_string();
    ws.send(Message::text(frame))
        .await
        .map_err(|e| e.to_string())
}

/// Reads until a dispatch of `event_type` for which `wanted(data)` holds; an error frame
/// fails.
pub async fn expect(
    ws: &mut Ws,
    event_type: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    loop {
        let text = next_text(ws).await?;
        let mut frame: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if frame.get("error").is_some() {
            return Err(format!("waiting for {event_type}: {text}"));
        }
        if frame["eventType"] == event_type && wanted(&frame["data"]) {
            return Ok(frame["data"].take());
        }
    }
}

/// The `session.heartbeat` frame.
pub fn heartbeat() -> Message {
    Message::text(r#"{"event_type": "session.heartbeat", "data": {}}"#)
}

/// A `message.send` whose content carries its sender, sequence number and send time.
pub fn message_send(room_id: &str, sender: usize, seq: u64, sent_ns: u64) -> Message {
    Message::text(format!(
        r#"{{"event_type": "message.send", "data": {{"room_id": "{room_id}", "content": "{sender} {seq} {sent_ns} hello from sender {sender:04}, a small chat message of realistic size"}}}}"#
    ))
}

/// One delivered message as the load client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's user id as the server rendered it.
    pub sender_user: i64,
    /// The sender's index in the run.
    pub sender: usize,
    pub seq: u64,
    pub sent_ns: u64,
}

#[derive(Deserialize)]
struct DispatchIn<'a> {
    #[serde(borrow)]
    data: DataIn<'a>,
}

#[derive(Deserialize)]
struct DataIn<'a> {
    sender: SenderIn,
    #[serde(borrow)]
    content: &'a str,
}

#[derive(Deserialize)]
struct SenderIn {
    id: i64,
}

/// A `message.dispatch` sent by the load client; `None` for any other frame.
pub fn parse_delivery(text: &str) -> Option<Delivery> {
    let frame: DispatchIn = serde_json::from_str(text).ok()?;
    let mut fields = frame.data.content.splitn(4, ' ');
    Some(Delivery {
        sender_user: frame.data.sender.id,
        sender: fields.next()?.parse().ok()?,
        seq: fields.next()?.parse().ok()?,
        sent_ns: fields.next()?.parse().ok()?,
    })
}

/// Creates a GroupChat of `users` (the first is the creator) and waits until every member
/// has its `roomcreate.dispatch`; returns the room id. `conns[i]` is `users[i]`.
pub async fn create_group(conns: &mut [Ws], users: &[i64], name: &str) -> Result<String, String> {
    let creator = conns.first_mut().ok_or("no members")?;
    emit(
        creator,
        "room.create",
        json!({"type": "GroupChat", "name": name, "participants": &users[1..],
               "max_participants": users.len()}),
    )
    .await?;
    let mut room_id = String::new();
    for ws in conns.iter_mut() {
        let room = expect(ws, "roomcreate.dispatch", |d| d["name"] == name).await?;
        room_id = room["id"].as_str().unwrap_or_default().to_string();
    }
    Ok(room_id)
}

/// The one-to-one room of `a` and `b` (user `b_id`): created, or found in `room.list` when
/// it exists from an earlier run against the same server.
pub async fn one_to_one(a: &mut Ws, b: &mut Ws, b_id: i64) -> Result<String, String> {
    emit(
        a,
        "room.create",
        json!({"type": "OneToOneChat", "participants": [b_id]}),
    )
    .await?;
    let text = next_text(a).await?;
    let frame: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if frame["eventType"] == "roomcreate.dispatch" {
        let id = frame["data"]["id"].as_str().unwrap_or_default().to_string();
        expect(b, "roomcreate.dispatch", |d| d["id"] == id.as_str()).await?;
        return Ok(id);
    }
    emit(a, "room.list", json!({})).await?;
    let list = expect(a, "roomlist.dispatch", |_| true).await?;
    list.as_array()
        .into_iter()
        .flatten()
        .find(|r| r["peer"]["id"] == b_id)
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .ok_or_else(|| format!("no one-to-one room with user {b_id}: {text}"))
}

/// Waits until `ceiling-server` counts `n` connections (its room joins are asynchronous).
pub async fn ceiling_ready(server: &Server, n: usize) -> Result<(), String> {
    let addr = server
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    for _ in 0..1000 {
        let stats = tokio::task::spawn_blocking({
            let addr = addr.clone();
            move || http_get(&addr, "/stats")
        })
        .await
        .map_err(|e| e.to_string())??;
        let v: Value = serde_json::from_str(&stats).unwrap_or_default();
        if v["conns"].as_u64().unwrap_or(0) >= n as u64 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("ceiling-server never counted {n} connections"))
}

pub fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or(out))
}
