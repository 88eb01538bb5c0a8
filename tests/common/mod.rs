//! The test harness: a real chatd on a random port with a fresh, migrated database of its own,
//! WebSocket clients, and token minting.
//!
//! SQLite by default (a temporary file per test). Set `CHAT_TEST_DATABASE_URL` to a PostgreSQL
//! URL the tests may create databases with (e.g. `postgres://postgres@127.0.0.1:5432/postgres`)
//! to run the same tests on PostgreSQL: each test gets its own database, dropped afterwards.
#![allow(dead_code)]

pub mod backlog;
pub mod chromium;
pub mod messages;
pub mod raw;
pub mod receiver;
pub mod rooms;

use std::net::SocketAddr;
use std::time::Duration;

use chatd::auth::{issue, NewToken};
use chatd::config::Settings;
use chatd::startup::{BackgroundServer, Shutdown};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long a test waits for an expected frame before failing (a hang guard, not a speed
/// requirement).
const FRAME_WAIT: Duration = Duration::from_secs(15);

/// More than the kernel buffers between a test client and the server hold (the client's send
/// buffer and the server's receive buffer, a few MiB each): a server that has taken this many
/// bytes without refusing them is still reading.
pub const REFUSAL_CAP: usize = 64 << 20;

pub struct TestApp {
    pub port: u16,
    pub settings: Settings,
    server: Option<BackgroundServer>,
    database: TestDatabase,
}

pub enum TestDatabase {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a server with these settings overrides (`("sessions.inactivity_threshold", "1")`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let (url, database) = fresh_database().await;
    let mut all: Vec<(&str, &str)> = vec![
        ("server.host", "127.0.0.1"),
        ("server.port", "0"),
        ("server.workers", "2"),
        ("database.url", url.as_str()),
        ("database.max_connections", "5"),
    ];
    all.extend_from_slice(overrides);
    let settings = Settings::load_with(None, &all).expect("test settings");

    let server_settings = settings.clone();
    let server = tokio::task::spawn_blocking(move || BackgroundServer::start(server_settings))
        .await
        .expect("join")
        .expect("server starts");
    TestApp {
        port: server.port,
        settings,
        server: Some(server),
        database,
    }
}

/// A new, empty database: its URL, and what removes it when dropped.
pub async fn fresh_database() -> (String, TestDatabase) {
    match std::env::var("CHAT_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("chatd_test_{}", Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("connect to CHAT_TEST_DATABASE_URL");
            // Concurrent CREATE DATABASE can collide on the template; try again briefly.
            let mut attempt = 0;
            while let Err(e) = admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
            {
                attempt += 1;
                assert!(attempt < 10, "create test database: {e}");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map(|(base, _)| base.to_string())
                .unwrap_or(admin_url.clone());
            (
                format!("{base}/{name}"),
                TestDatabase::Postgres { admin_url, name },
            )
        }
        _ => {
            let path = std::env::temp_dir().join(format!("chatd-test-{}.db", Uuid::new_v4()));
            (
                format!("sqlite://{}?mode=rwc", path.display()),
                TestDatabase::Sqlite(path),
            )
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server (and its pool) before removing its database.
        drop(self.server.take());
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDatabase::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // A runtime of its own: Drop may run inside the test's runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                })
                .join();
            }
        }
    }
}

impl TestApp {
    /// Stops the server (draining it as SIGTERM would) and starts a new one with the same
    /// settings on the same database, listening on a new port.
    pub async fn restart(&mut self) {
        drop(self.server.take());
        let settings = self.settings.clone();
        let server = tokio::task::spawn_blocking(move || BackgroundServer::start(settings))
            .await
            .expect("join")
            .expect("server starts again");
        self.port = server.port;
        self.server = Some(server);
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/messaging/", self.port)
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/messaging/", self.port)
    }

    /// A token for `user_id` named `user<id>` with the profile the reference's fixtures use.
    pub fn token(&self, user_id: i64) -> String {
        self.token_with(NewToken {
            user_id,
            username: Some(format!("user{user_id}")),
            email: Some(format!("user{user_id}@example.com")),
            first_name: Some("User".into()),
            last_name: Some(user_id.to_string()),
            exp: Some(chrono::Utc::now().timestamp() + 3600),
        })
    }

    pub fn token_with(&self, claims: NewToken) -> String {
        issue(&self.settings.auth, &claims).expect("sign token")
    }

    /// Connects as `user_id` and reads the `chat.notifications` frame every connection starts
    /// with, returning its `data`.
    pub async fn connect(&self, user_id: i64) -> (Client, Value) {
        let mut client = Client::open(&format!("{}?token={}", self.ws_url(), self.token(user_id)))
            .await
            .expect("connect");
        let first = client.recv().await;
        assert_eq!(
            first["eventType"], "chat.notifications",
            "first frame: {first}"
        );
        assert!(
            first.get("type").is_none(),
            "chat.notifications has no type key"
        );
        let data = first["data"].clone();
        (client, data)
    }

    /// A connection whose pending notifications were empty.
    pub async fn user(&self, user_id: i64) -> Client {
        let (client, pending) = self.connect(user_id).await;
        assert_eq!(
            pending,
            serde_json::json!({}),
            "no pending notifications expected"
        );
        client
    }

    /// How many room actors the server has running right now.
    pub fn live_room_actors(&self) -> usize {
        self.server
            .as_ref()
            .and_then(|s| s.state())
            .map_or(0, |state| state.rooms.live())
    }

    /// Stops the server: gracefully (draining first) or at once.
    pub fn shutdown(&self) -> Shutdown {
        self.server.as_ref().expect("server running").shutdown()
    }

    /// The port `/metrics` is served on, if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.server.as_ref().and_then(|s| s.metrics_port)
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        http_request(self.port, "GET", path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> HttpResponse {
        http_request(self.port, "POST", path, Some(&body.to_string())).await
    }

    /// `GET /metrics` from wherever it is served.
    pub async fn scrape(&self) -> Scrape {
        let port = self.metrics_port().expect("metrics are served");
        let response = http_request(port, "GET", "/metrics", None).await;
        assert_eq!(response.status, 200, "{}", response.body);
        Scrape::parse(&response.body)
    }

    /// Takes the database away from under the running server, as an operator's accident
    /// would: the SQLite file is deleted, the PostgreSQL database dropped with its connections.
    pub async fn destroy_database(&self) {
        match &self.database {
            TestDatabase::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                assert!(!path.exists());
            }
            TestDatabase::Postgres { admin_url, name } => {
                let admin = sea_orm::Database::connect(admin_url)
                    .await
                    .expect("connect to CHAT_TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await
                    .expect("drop the test database");
                admin.close().await.ok();
            }
        }
    }

    /// The running server's shared state (its counters, its presence map).
    pub fn state(&self) -> std::sync::Arc<chatd::app::AppState> {
        self.server
            .as_ref()
            .and_then(|s| s.state())
            .expect("the server is running")
    }

    /// Polls `check` (every 20 ms, at most [`FRAME_WAIT`]) until it holds; a hang guard for
    /// effects that happen after the frames a test can wait for (rows removed at close, a
    /// batched write, a push).
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + FRAME_WAIT;
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A database connection of the test's own, for checking what the server stored.
    pub async fn db(&self) -> DatabaseConnection {
        chatd::store::connect(&self.settings.database)
            .await
            .expect("test db connection")
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn open(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Client { ws })
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Writes `bytes` to the socket as they are, below the WebSocket framing: for hand-built
    /// frames (`raw::client_frame`, `raw::frame_header`).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let socket = self.ws.get_mut();
        tokio::time::timeout(FRAME_WAIT, async {
            socket.write_all(bytes).await?;
            socket.flush().await
        })
        .await
        .expect("timed out writing: the server neither reads nor closes")
    }

    /// Keeps writing `chunk` until the server refuses more (a write fails because it closed the
    /// connection), at most [`REFUSAL_CAP`] bytes. Returns the bytes written before the refusal,
    /// or `None` when the cap was reached without one, i.e. the server kept reading.
    pub async fn write_until_refused(&mut self, chunk: &[u8]) -> Option<usize> {
        let mut written = 0;
        while written < REFUSAL_CAP {
            if self.write_raw(chunk).await.is_err() {
                return Some(written);
            }
            written += chunk.len();
        }
        None
    }

    /// The client's end of the TCP connection.
    pub fn local_addr(&self) -> SocketAddr {
        match self.ws.get_ref() {
            MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("local address"),
            _ => panic!("tests connect without TLS"),
        }
    }

    /// Sends `{"event_type": event_type, "data": data}`.
    pub async fn emit(&mut self, event_type: &str, data: Value) {
        self.send(serde_json::json!({"event_type": event_type, "data": data}))
            .await;
    }

    /// The next text frame as JSON, or the close code and reason if the server closes
    /// instead (control frames skipped).
    pub async fn next_frame_or_close(&mut self) -> Result<Value, (u16, String)> {
        self.next_frame_or_close_within(FRAME_WAIT).await
    }

    /// [`Self::next_frame_or_close`] with a hang guard of `wait` instead of [`FRAME_WAIT`].
    pub async fn next_frame_or_close_within(
        &mut self,
        wait: Duration,
    ) -> Result<Value, (u16, String)> {
        loop {
            let next = tokio::time::timeout(wait, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("frame is JSON"))
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Err((u16::from(frame.code), frame.reason.to_string()))
                }
                Some(Ok(Message::Close(None))) => {
                    return Err((u16::from(CloseCode::Status), String::new()))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text or close frame, got {other:?}"),
            }
        }
    }

    /// The next text frame as JSON.
    pub async fn recv(&mut self) -> Value {
        self.next_frame_or_close()
            .await
            .unwrap_or_else(|close| panic!("expected a frame, connection closed: {close:?}"))
    }

    /// The next frame must be a dispatch of `event_type`; returns its `data`.
    pub async fn recv_dispatch(&mut self, event_type: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["eventType"], event_type, "unexpected frame: {frame}");
        assert_eq!(frame["type"], "broadcast_group", "routed dispatch: {frame}");
        frame["data"].clone()
    }

    /// The server must close the connection next; returns the close code and reason.
    pub async fn recv_close(&mut self) -> (u16, String) {
        match self.next_frame_or_close().await {
            Err(close) => close,
            Ok(frame) => panic!("expected a close, got {frame}"),
        }
    }

    /// After its close frame, the server must end the TCP connection: the stream ends without
    /// this client closing its side.
    pub async fn recv_end(&mut self) {
        let next = tokio::time::timeout(FRAME_WAIT, self.ws.next())
            .await
            .expect("timed out waiting for the server to close the connection");
        assert!(
            next.is_none(),
            "expected the end of the stream, got {next:?}"
        );
    }

    /// Proves nothing else is queued for this connection: a heartbeat's answer must be the very
    /// next frame. Whatever was dispatched to this connection before the heartbeat was read
    /// would arrive first.
    pub async fn assert_nothing_pending(&mut self) {
        self.assert_nothing_pending_within(FRAME_WAIT).await;
    }

    /// [`Self::assert_nothing_pending`] behind a request that may take the server longer than
    /// [`FRAME_WAIT`] to finish (events on a connection are handled in order); `wait` is a
    /// hang guard, not a speed check.
    pub async fn assert_nothing_pending_within(&mut self, wait: Duration) {
        self.emit("session.heartbeat", serde_json::json!({})).await;
        let next = self
            .next_frame_or_close_within(wait)
            .await
            .unwrap_or_else(|close| panic!("expected a frame, connection closed: {close:?}"));
        assert_eq!(
            next,
            serde_json::json!({"status": "success"}),
            "unexpected frame"
        );
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A canonical lower-case UUID string.
pub fn assert_uuid(v: &Value) -> Uuid {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let id = Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s}"));
    assert_eq!(id.hyphenated().to_string(), s, "canonical lower-case form");
    id
}

/// ISO 8601 UTC with `Z`: `2026-01-01T10:00:00.123456Z` (no fraction when it is zero).
pub fn assert_timestamp(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let parsed =
        chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|_| panic!("not ISO 8601: {s}"));
    assert!(s.ends_with('Z'), "UTC with Z: {s}");
    let fraction = s.split('.').nth(1);
    match fraction {
        Some(f) => assert_eq!(f.len(), 7, "six fraction digits then Z: {s}"),
        None => assert_eq!(parsed.timestamp_subsec_micros(), 0),
    }
}

/// Replaces every timestamp field (checked) with `"<ts>"`, so a whole frame can be compared
/// with an exact expected value.
pub fn normalize_times(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if matches!(key.as_str(), "created_at" | "updated_at" | "read_at")
                    && value.is_string()
                {
                    assert_timestamp(value);
                    *value = Value::from("<ts>");
                } else {
                    normalize_times(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_times),
        _ => {}
    }
}

/// The user object every payload renders for a user created by [`TestApp::token`].
pub fn user_json(id: i64) -> Value {
    serde_json::json!({"id": id, "username": format!("user{id}"),
        "email": format!("user{id}@example.com"), "first_name": "User", "last_name": id.to_string()})
}

/// Creates a one-to-one room between the two connected users; both receive
/// `roomcreate.dispatch`. Returns the room id.
pub async fn create_one_to_one(a: &mut Client, a_id: i64, b: &mut Client, b_id: i64) -> Uuid {
    a.emit(
        "room.create",
        serde_json::json!({"type": "OneToOneChat", "participants": [b_id]}),
    )
    .await;
    let room = a.recv_dispatch("roomcreate.dispatch").await;
    let seen_by_b = b.recv_dispatch("roomcreate.dispatch").await;
    assert_eq!(room, seen_by_b);
    let ids: Vec<i64> = room["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![a_id.min(b_id), a_id.max(b_id)]);
    assert_uuid(&room["id"])
}

/// Sends `content` to `room` and returns the `message.dispatch` data the sender got back.
pub async fn send_message(client: &mut Client, room: Uuid, content: &str) -> Value {
    client
        .emit(
            "message.send",
            serde_json::json!({"room_id": room, "content": content}),
        )
        .await;
    client.recv_dispatch("message.dispatch").await
}

/// An HTTP response as a test sees it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), JSON body if any.
pub async fn http_request(port: u16, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(FRAME_WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("timed out waiting for an HTTP response")
        .expect("read");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
        "chunked responses are not expected"
    );
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A Prometheus text exposition: series (`name{labels}` exactly as printed) → value.
pub struct Scrape(std::collections::HashMap<String, f64>);

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        Scrape(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(|l| {
                    let (series, value) = l.rsplit_once(' ').expect("series value");
                    (series.to_string(), value.parse().expect("a number"))
                })
                .collect(),
        )
    }

    /// The value of one series; absent series are 0 (counters with labels appear on first use).
    pub fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    pub fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}
