//! The endpoint at the TCP level: replies are not held back by Nagle's algorithm, the server
//! closes the TCP connection as soon as its close frame is out, and the hand-over of the socket
//! after the handshake (src/ws/upgrade.rs) loses no byte and serves other routes as usual, the
//! frames the session encodes itself arrive whole whatever their length, client frames read a
//! few bytes at a time through the worker's read buffer arrive whole, and a client that stops
//! reading is dropped once its socket stays full.

mod common;

use std::time::Duration;

use common::{create_one_to_one, raw, spawn_app, spawn_app_with, Client, TestApp, REFUSAL_CAP};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn accepted_sockets_send_without_nagle_delay() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;

    // Two replies back to back: an error at once, the room list a moment later from the
    // database. With Nagle's algorithm on, the second waits for the client's delayed ACK of the
    // first (~40 ms; docs/reliability.md). The socket option is what this test can assert
    // without a timing threshold.
    client.send_text("{not json").await;
    client.emit("room.list", json!({})).await;
    assert_eq!(client.recv().await["error"]["code"], 4003);
    assert_eq!(client.recv_dispatch("roomlist.dispatch").await, json!([]));

    let server_side = raw::server_side_of(client.local_addr(), app.port);
    assert!(
        server_side.tcp_nodelay().expect("read TCP_NODELAY"),
        "the accepted socket has Nagle's algorithm on"
    );
}

#[tokio::test]
async fn after_the_close_handshake_the_server_closes_the_connection_without_lingering() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    client
        .send_message(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await;
    assert_eq!(client.recv_close().await, (1000, "bye".to_string()));

    // The server closed the connection once its close frame was out, so bytes the client
    // still sends are refused as soon as the kernel buffers are full. A server that lingers
    // (reads and discards, waiting for the client to close first) accepts them all.
    let refused_after = client.write_until_refused(&[0u8; 64 * 1024]).await;
    assert!(
        refused_after.is_some(),
        "the server kept reading {REFUSAL_CAP} bytes after the close handshake"
    );
    client.recv_end().await;
}

/// Sends `request` (and whatever follows it) in one write and reads until `until` shows up in
/// the answer or the server closes. Server frames are unmasked, so their JSON reads as is.
async fn raw_exchange(port: u16, request: Vec<u8>, until: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains(until) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn a_frame_sent_in_the_same_packet_as_the_handshake_is_read() {
    // The upgrade hands the socket over with whatever was read along with the request.
    let app = spawn_app().await;
    let mut request = format!(
        "GET /messaging/?token={} HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n",
        app.token(1)
    )
    .into_bytes();
    let heartbeat = json!({"event_type": "session.heartbeat", "data": {}}).to_string();
    request.extend(raw::client_frame(true, raw::TEXT, heartbeat.as_bytes()));
    let answer = raw_exchange(app.port, request, "success").await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    let notifications = answer.find("chat.notifications").expect(&answer);
    let ack = answer.find("success").expect(&answer);
    assert!(notifications < ack, "{answer}");
}

#[tokio::test]
async fn other_routes_answer_requests_with_upgrade_headers_as_usual() {
    let app = spawn_app().await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n");
    let answer = raw_exchange(app.port, request.into_bytes(), r#""status":"ok""#).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let request = format!("GET /nowhere HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n");
    let answer = raw_exchange(app.port, request.into_bytes(), "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[tokio::test]
async fn frames_of_every_length_arrive_whole_and_in_order_when_written_together() {
    // The session encodes its text frames into the connection's write buffer itself: a payload
    // under 126 bytes has a 2-byte header, one under 64 KiB a 4-byte one, a longer one 10 bytes.
    let (_app, mut alice, mut bob, room) = pair_with_long_frames(&[]).await;

    // Emitted back to back, so that the answers can share a write.
    alice.emit("room.search", json!({"query": "x"})).await;
    let contents: Vec<String> = [70_000, 10, 1_000, 66_000]
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}{}", "x".repeat(*n)))
        .collect();
    for content in &contents {
        alice
            .emit("message.send", json!({"room_id": room, "content": content}))
            .await;
    }

    // A 31-byte error frame, then dispatches of ~600 bytes to ~70 KB, on both connections.
    assert_eq!(alice.recv().await, json!({"error": "invalid event type"}));
    for content in &contents {
        assert_eq!(
            alice.recv_dispatch("message.dispatch").await["content"],
            *content
        );
        assert_eq!(
            bob.recv_dispatch("message.dispatch").await["content"],
            *content
        );
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_once_its_socket_stays_full() {
    // While its write waits, a session does not run: without `server.write_stall_timeout`
    // nothing would end a client that stopped reading (the idle expiry and the 1013 close both
    // need the session to run).
    let app = spawn_app_with(&[("server.write_stall_timeout", "0.3")]).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // Small buffers on the client's side, so that the sockets fill after little traffic.
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .unwrap();
    let request = format!(
        "GET /messaging/?token={} HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n",
        app.token(1)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let state = app.state();
    app.eventually("the session is registered", || {
        let state = state.clone();
        async move { state.presence.connection_count() == 1 }
    })
    .await;

    // Heartbeats whose answers are never read, until the server takes no more of them (its
    // session waits behind a full socket) or has already dropped the connection.
    let heartbeat = json!({"event_type": "session.heartbeat", "data": {}}).to_string();
    let burst = raw::client_frame(true, raw::TEXT, heartbeat.as_bytes()).repeat(256);
    let mut written = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&burst)).await {
            Ok(Ok(())) => written += burst.len(),
            Ok(Err(_)) | Err(_) => break,
        }
        assert!(
            written < REFUSAL_CAP,
            "the server kept reading every answer's way"
        );
    }

    // Reading now drains what was sent, then meets the end of a connection the server dropped
    // (a session that had been kept would answer the rest and stay open).
    let mut sink = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    app.eventually("the dropped session has left Presence", || {
        let state = state.clone();
        async move { state.presence.connection_count() == 0 }
    })
    .await;
}

#[tokio::test]
async fn client_frames_read_a_few_bytes_at_a_time_on_a_shared_worker_arrive_whole_and_in_order() {
    // Every read of a socket lands in its worker thread's one buffer and is copied out at its
    // size (src/ws/upgrade.rs): with reads of 7 bytes, frames of every header length span many
    // reads, and two connections on the one worker take turns with that buffer.
    let (_app, mut alice, mut bob, room) =
        pair_with_long_frames(&[("server.workers", "1"), ("server.socket_read_bytes", "7")]).await;

    // Both send at once, interleaved; each one's messages keep their order in the room.
    let contents = |who: &str| -> Vec<String> {
        [1, 200, 70_000, 3]
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{who}{i}{}", "é".repeat(*n)))
            .collect()
    };
    let (from_alice, from_bob) = (contents("a"), contents("b"));
    for (a, b) in from_alice.iter().zip(&from_bob) {
        alice
            .emit("message.send", json!({"room_id": room, "content": a}))
            .await;
        bob.emit("message.send", json!({"room_id": room, "content": b}))
            .await;
    }
    for user in [&mut alice, &mut bob] {
        let (mut got_alice, mut got_bob) = (Vec::new(), Vec::new());
        for _ in 0..8 {
            let dispatch = user.recv_dispatch("message.dispatch").await;
            let content = dispatch["content"].as_str().unwrap_or_default().to_string();
            if dispatch["sender"]["id"] == 1 {
                got_alice.push(content);
            } else {
                got_bob.push(content);
            }
        }
        assert!(got_alice == from_alice, "alice's sends, whole and in order");
        assert!(got_bob == from_bob, "bob's sends, whole and in order");
    }
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
}

/// A server that takes messages of up to 100,000 characters, with `overrides`, and Alice and
/// Bob in a one-to-one room.
async fn pair_with_long_frames(
    overrides: &[(&'static str, &'static str)],
) -> (TestApp, Client, Client, uuid::Uuid) {
    let mut settings = vec![
        ("limits.max_content_chars", "100000"),
        ("limits.max_frame_bytes", "1048576"),
    ];
    settings.extend_from_slice(overrides);
    let app = spawn_app_with(&settings).await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    (app, alice, bob, room)
}
