//! Admission, the envelope, and what happens to bad input and idle or oversized connections.

mod common;

use chatd::auth::NewToken;
use common::{spawn_app, spawn_app_with, Client};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_valid_token_is_admitted_and_first_gets_empty_notifications() {
    let app = spawn_app().await;
    let (_client, pending) = app.connect(1).await;
    assert_eq!(pending, json!({}));
}

#[tokio::test]
async fn a_connection_without_token_is_closed_with_4001() {
    let app = spawn_app().await;
    let mut client = Client::open(&app.ws_url()).await.expect("upgrade accepted");
    assert_eq!(
        client.recv_close().await,
        (4001, "Authentication failed".to_string())
    );
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_closed_with_4001() {
    let app = spawn_app().await;
    let mut other = app.settings.auth.clone();
    other.jwt_secret = "not-the-secret".into();
    let forged = chatd::auth::issue(
        &other,
        &NewToken {
            user_id: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut client = Client::open(&format!("{}?token={forged}", app.ws_url()))
        .await
        .unwrap();
    assert_eq!(client.recv_close().await.0, 4001);
}

#[tokio::test]
async fn an_expired_token_is_closed_with_4001() {
    let app = spawn_app().await;
    let expired = app.token_with(NewToken {
        user_id: 1,
        exp: Some(chrono::Utc::now().timestamp() - 3600),
        ..Default::default()
    });
    let mut client = Client::open(&format!("{}?token={expired}", app.ws_url()))
        .await
        .unwrap();
    assert_eq!(client.recv_close().await.0, 4001);
}

#[tokio::test]
async fn garbage_and_claimless_tokens_are_closed_with_4001() {
    let app = spawn_app().await;
    let mut claims = app.settings.auth.clone();
    claims.user_id_claim = "sub".into();
    let no_user_id = chatd::auth::issue(
        &claims,
        &NewToken {
            user_id: 1,
            ..Default::default()
        },
    )
    .unwrap();
    for token in ["garbage", no_user_id.as_str()] {
        let mut client = Client::open(&format!("{}?token={token}", app.ws_url()))
            .await
            .unwrap();
        assert_eq!(client.recv_close().await.0, 4001, "token {token}");
    }
}

#[tokio::test]
async fn a_plain_http_request_to_the_endpoint_gets_400() {
    let app = spawn_app().await;
    let url = app.http_url();
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let status = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&authority).unwrap();
        write!(
            stream,
            "GET /messaging/ HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.lines().next().unwrap_or_default().to_string()
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
}

#[tokio::test]
async fn heartbeat_is_answered_with_success() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    client.emit("session.heartbeat", json!({})).await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
    // `data` is ignored, even when missing.
    client
        .send(json!({"event_type": "session.heartbeat"}))
        .await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
}

#[tokio::test]
async fn malformed_json_gets_an_error_frame_and_the_connection_keeps_working() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    client.send_text("{not json").await;
    let frame = client.recv().await;
    assert_eq!(frame["error"]["code"], 4003);
    let detail = frame["error"]["detail"][0].as_str().unwrap();
    assert!(detail.starts_with("Invalid frame: "), "{detail}");

    client.send_text("[1, 2, 3]").await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid frame: expected a JSON object"]}})
    );

    client.send_message(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid frame: binary frames are not supported"]}})
    );

    client.assert_nothing_pending().await;
}

#[tokio::test]
async fn unknown_or_missing_event_types_get_invalid_event_type() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    for frame in [
        json!({"event_type": "invalid_event_type", "data": {}}),
        json!({"event_type": "room.delete", "data": {}}),
        json!({"event_type": null, "data": {}}),
        json!({"event_type": 5}),
        json!({"data": {}}),
    ] {
        client.send(frame).await;
        assert_eq!(client.recv().await, json!({"error": "invalid event type"}));
    }
    client.assert_nothing_pending().await;
}

#[tokio::test]
async fn data_of_the_wrong_type_gets_4006_and_wrong_field_types_get_4003() {
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    let internal = json!({"error": {"code": 4006, "detail": "Internal server error."}});
    for data in [json!(null), json!([]), json!("x"), json!(3)] {
        client.emit("room.info", data.clone()).await;
        assert_eq!(client.recv().await, internal, "room.info data {data}");
        client.emit("message.send", data.clone()).await;
        assert_eq!(client.recv().await, internal, "message.send data {data}");
    }
    client.emit("room.info", json!({"room_id": true})).await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid room_id type"]}})
    );
    client.emit("room.info", json!({"room_id": "abc"})).await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["\u{201c}abc\u{201d} is not a valid UUID."]}})
    );
    // An integer where a UUID is expected (DECISIONS 7), in every id field.
    let not_uuid =
        json!({"error": {"code": 4003, "detail": ["\u{201c}5\u{201d} is not a valid UUID."]}});
    client.emit("room.info", json!({"room_id": 5})).await;
    assert_eq!(client.recv().await, not_uuid);
    client
        .emit("message.send", json!({"room_id": 5, "content": "hi"}))
        .await;
    assert_eq!(client.recv().await, not_uuid);
    client
        .emit("message.acknowledged", json!({"message_id": [5]}))
        .await;
    assert_eq!(client.recv().await, not_uuid);
    client
        .emit("message.send", json!({"room_id": ["x"], "content": "hi"}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid room_id type"]}})
    );
    client.emit("message.send", json!({"content": "hi"})).await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid message_id type"]}})
    );
    client
        .emit("message.acknowledged", json!({"message_id": {"a": 1}}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"error": {"code": 4003, "detail": ["Invalid message_id type"]}})
    );
    client.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_with_1009() {
    let app = spawn_app_with(&[("limits.max_frame_bytes", "2048")]).await;
    let mut client = app.user(1).await;
    let big = "x".repeat(4096);
    client
        .emit(
            "message.send",
            json!({"room_id": uuid::Uuid::new_v4(), "content": big}),
        )
        .await;
    assert_eq!(client.recv_close().await.0, 1009);
}

#[tokio::test]
async fn a_fragmented_message_is_reassembled() {
    use tokio_tungstenite::tungstenite::protocol::frame::{
        coding::{Data, OpCode},
        Frame,
    };
    let app = spawn_app().await;
    let mut client = app.user(1).await;
    let text = json!({"event_type": "session.heartbeat", "data": {}}).to_string();
    let (head, tail) = text.split_at(10);
    let mut first = Frame::message(head.as_bytes().to_vec(), OpCode::Data(Data::Text), false);
    first.header_mut().is_final = false;
    let last = Frame::message(tail.as_bytes().to_vec(), OpCode::Data(Data::Continue), true);
    client.send_message(Message::Frame(first)).await;
    client.send_message(Message::Frame(last)).await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_4008() {
    let app = spawn_app_with(&[("sessions.inactivity_threshold", "1")]).await;
    let mut client = app.user(1).await;
    assert_eq!(
        client.recv_close().await,
        (4008, "Session expired".to_string())
    );
}

#[tokio::test]
async fn a_connection_that_falls_silent_after_talking_is_closed_with_4008() {
    // Frames for longer than the threshold, 300 ms apart against 2 s: the first expiry is
    // due while the connection still talks.
    let app = spawn_app_with(&[("sessions.inactivity_threshold", "2")]).await;
    let mut client = app.user(1).await;
    for _ in 0..8 {
        client
            .send(json!({"event_type": "session.heartbeat", "data": {}}))
            .await;
        assert_eq!(client.recv().await, json!({"status": "success"}));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(
        client.recv_close().await,
        (4008, "Session expired".to_string())
    );
}

#[tokio::test]
async fn a_connection_that_heartbeats_is_not_closed_for_idleness() {
    // Wide margins: heartbeats every 250 ms against a 3 s threshold, for longer than the
    // threshold, so a loaded machine cannot make this flaky.
    let app = spawn_app_with(&[("sessions.inactivity_threshold", "3")]).await;
    let mut client = app.user(1).await;
    for _ in 0..18 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        client.assert_nothing_pending().await;
    }
}

#[tokio::test]
async fn session_rows_exist_while_connected_and_are_removed_after() {
    let app = spawn_app().await;
    let db = app.db().await;
    let a = app.user(7).await;
    let b = app.user(7).await;
    assert_eq!(
        chatd::store::sessions::for_user(&db, 7)
            .await
            .unwrap()
            .len(),
        2
    );
    a.close().await;
    b.close().await;
    let mut remaining = usize::MAX;
    for _ in 0..100 {
        remaining = chatd::store::sessions::for_user(&db, 7)
            .await
            .unwrap()
            .len();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(remaining, 0);
}

#[tokio::test]
async fn profile_claims_create_and_update_the_user() {
    let app = spawn_app().await;
    let token = app.token_with(NewToken {
        user_id: 9,
        username: Some("nina".into()),
        email: Some("nina@example.com".into()),
        ..Default::default()
    });
    let mut client = Client::open(&format!("{}?token={token}", app.ws_url()))
        .await
        .unwrap();
    client.recv().await;
    let db = app.db().await;
    let users = chatd::store::users::list(&db).await.unwrap();
    let nina = users.iter().find(|u| u.id == 9).expect("created");
    assert_eq!(
        (nina.username.as_str(), nina.email.as_str()),
        ("nina", "nina@example.com")
    );

    let renamed = app.token_with(NewToken {
        user_id: 9,
        username: Some("nina2".into()),
        ..Default::default()
    });
    let mut again = Client::open(&format!("{}?token={renamed}", app.ws_url()))
        .await
        .unwrap();
    again.recv().await;
    let users = chatd::store::users::list(&db).await.unwrap();
    let nina = users.iter().find(|u| u.id == 9).unwrap();
    assert_eq!(
        (nina.username.as_str(), nina.email.as_str()),
        ("nina2", "nina@example.com")
    );
}

/// messages.md §1.5: all frames caused by one event are emitted before the next event of the
/// connection is processed. A dispatch to the sender's own connection is one of them, so a
/// heartbeat sent right behind an event is answered after that event's dispatch, never before
/// (a client may use the heartbeat's answer as a fence, as the console does).
#[tokio::test]
async fn an_events_own_dispatch_comes_before_the_answer_to_the_next_event() {
    let app = spawn_app().await;
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = common::create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    let first = common::send_message(&mut alice, room, "react to me").await;
    bob.recv_dispatch("message.dispatch").await;

    for round in 0..60 {
        let (event, data, dispatch) = match round % 3 {
            0 => (
                "message.send",
                json!({"room_id": room, "content": format!("message {round}")}),
                "message.dispatch",
            ),
            1 => (
                "message.react",
                json!({"type": "add", "message_id": first["id"], "reaction_content": "👍"}),
                "reaction.dispatch",
            ),
            _ => (
                "message.react",
                json!({"type": "remove", "message_id": first["id"]}),
                "reaction.dispatch",
            ),
        };
        alice.emit(event, data).await;
        alice.emit("session.heartbeat", json!({})).await;
        alice.recv_dispatch(dispatch).await;
        assert_eq!(
            alice.recv().await,
            json!({"status": "success"}),
            "round {round}"
        );
        bob.recv_dispatch(dispatch).await;
    }
    alice.assert_nothing_pending().await;
}

#[tokio::test]
async fn an_id_with_a_wide_character_across_its_ninth_byte_is_not_a_valid_uuid() {
    // `urn:uuid:` is checked on the first nine bytes; a character straddling the ninth is no
    // such prefix (the check sliced there and panicked).
    let app = spawn_app().await;
    let (mut client, _) = app.connect(1).await;
    for id in ["12345678é", "urn:uuidé", "€€€€"] {
        client.emit("room.info", json!({"room_id": id})).await;
        let shown = format!("\u{201c}{id}\u{201d} is not a valid UUID.");
        assert_eq!(
            client.recv().await,
            json!({"error": {"code": 4003, "detail": [shown]}})
        );
    }
    client.emit("session.heartbeat", json!({})).await;
    assert_eq!(client.recv().await, json!({"status": "success"}));
}
