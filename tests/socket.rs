//! The endpoint at the TCP level: replies are not held back by Nagle's algorithm, and the server
//! closes the TCP connection as soon as its close frame is out.

mod common;

use common::{raw, spawn_app, REFUSAL_CAP};
use serde_json::json;
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
