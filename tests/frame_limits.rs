//! Frame limits enforced as the bytes arrive: a frame's declared length (and a fragmented
//! message's running size) against `limits.max_frame_bytes`, UTF-8 of text messages. Frames are
//! hand-built and written below the WebSocket library, as a hostile client would.

mod common;

use common::raw::{client_frame, frame_header, CONTINUATION, TEXT};
use common::{spawn_app, spawn_app_with, Client, REFUSAL_CAP};
use serde_json::json;

const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn too_big() -> (u16, String) {
    (1009, "Message too big".to_string())
}

fn invalid_utf8() -> (u16, String) {
    (1007, "Invalid UTF-8".to_string())
}

/// Writes `parts` as the fragments of one text message.
async fn write_fragmented(client: &mut Client, parts: &[&[u8]]) {
    for (n, part) in parts.iter().enumerate() {
        let opcode = if n == 0 { TEXT } else { CONTINUATION };
        let frame = client_frame(n + 1 == parts.len(), opcode, part);
        client.write_raw(&frame).await.expect("fragment written");
    }
}

/// A heartbeat whose text is padded with spaces to exactly `len` bytes.
fn heartbeat_of_len(len: usize) -> Vec<u8> {
    let mut text = json!({"event_type": "session.heartbeat", "data": {}}).to_string();
    assert!(text.len() <= len);
    text.push_str(&" ".repeat(len - text.len()));
    text.into_bytes()
}

#[tokio::test]
async fn a_frame_declaring_more_than_the_limit_is_closed_with_1009_from_its_header_alone() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;

    // A text frame declaring 2^40 bytes; not one byte of its payload is sent before the close.
    client
        .write_raw(&frame_header(true, TEXT, 1 << 40, MASK))
        .await
        .expect("header written");
    assert_eq!(client.recv_close().await, too_big());

    // Streaming the declared payload anyway is refused: the server stopped reading and closed
    // the connection instead of buffering what arrives.
    let refused_after = client.write_until_refused(&[b'x'; 64 * 1024]).await;
    assert!(
        refused_after.is_some(),
        "the server accepted {REFUSAL_CAP} bytes of an oversized frame"
    );
}

#[tokio::test]
async fn a_fragmented_message_growing_past_the_limit_is_closed_at_the_fragment_header() {
    let app = spawn_app_with(&[("limits.max_frame_bytes", "2048")]).await;
    let mut client = app.user(1).await;

    client
        .write_raw(&client_frame(false, TEXT, &[b' '; 2000]))
        .await
        .expect("first fragment written");
    // 2000 + 100 > 2048: refused from the continuation's header, before its payload.
    client
        .write_raw(&frame_header(true, CONTINUATION, 100, MASK))
        .await
        .expect("continuation header written");
    assert_eq!(client.recv_close().await, too_big());
}

#[tokio::test]
async fn frames_and_fragmented_messages_of_exactly_the_limit_are_accepted() {
    let app = spawn_app_with(&[("limits.max_frame_bytes", "2048")]).await;
    let mut client = app.user(1).await;

    client
        .write_raw(&client_frame(true, TEXT, &heartbeat_of_len(2048)))
        .await
        .unwrap();
    assert_eq!(client.recv().await, json!({"status": "success"}));

    let message = heartbeat_of_len(2048);
    let (head, tail) = message.split_at(1000);
    write_fragmented(&mut client, &[head, tail]).await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
    client.assert_nothing_pending().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    client
        .write_raw(&client_frame(true, TEXT, b"{\"event_type\": \"\xff\"}"))
        .await
        .unwrap();
    assert_eq!(client.recv_close().await, invalid_utf8());
}

#[tokio::test]
async fn invalid_utf8_in_a_fragmented_text_message_is_closed_with_1007() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    // E2 82 starts a three-byte character; `(` cannot continue it.
    write_fragmented(&mut client, &[b"{\"x\": \"\xe2\x82", b"(\"}"]).await;
    assert_eq!(client.recv_close().await, invalid_utf8());
}

#[tokio::test]
async fn a_text_message_ending_inside_a_character_is_closed_with_1007() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    write_fragmented(&mut client, &[b"{\"x\": 1}", b" \xe2\x82"]).await;
    assert_eq!(client.recv_close().await, invalid_utf8());
}

#[tokio::test]
async fn a_character_split_between_fragments_is_reassembled() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    let text = json!({"event_type": "session.heartbeat", "data": {"note": "5 €"}}).to_string();
    let euro = text.find('€').unwrap();
    let (head, tail) = text.as_bytes().split_at(euro + 1);
    write_fragmented(&mut client, &[head, tail]).await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
    client.assert_nothing_pending().await;
}
