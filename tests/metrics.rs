//! `GET /metrics`: the numbers move when events happen, and the endpoint can move to an
//! address of its own or go away.

mod common;

use common::{create_one_to_one, http_request, send_message, spawn_app, spawn_app_with, Client};
use serde_json::json;
use uuid::Uuid;

fn events(event: &str, outcome: &str) -> String {
    format!("chatd_events_total{{event=\"{event}\",outcome=\"{outcome}\"}}")
}

#[tokio::test]
async fn metrics_count_connections_events_dispatches_and_failures() {
    let app = spawn_app().await;
    let before = app.scrape().await;
    assert_eq!(before.value("chatd_connections_open"), 0.0);
    assert!(
        before.has(&events("message.send", "ok")),
        "spec events start at zero"
    );

    // Two users chat: one room, one message, each seen by both connections.
    let mut alice = app.user(1).await;
    let mut bob = app.user(2).await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    send_message(&mut alice, room, "hello").await;
    bob.recv_dispatch("message.dispatch").await;
    // Failures of each kind.
    // No such event in the spec (rooms.md §0 names it as one that does not exist).
    alice.emit("room.search", json!({"query": "x"})).await;
    assert_eq!(alice.recv().await, json!({"error": "invalid event type"}));
    alice
        .emit("room.info", json!({"room_id": Uuid::new_v4()}))
        .await;
    assert_eq!(alice.recv().await["error"]["code"], 4004);
    alice.send_text("not json").await;
    assert_eq!(alice.recv().await["error"]["code"], 4003);
    let mut refused = Client::open(&format!("{}?token=garbage", app.ws_url()))
        .await
        .unwrap();
    assert_eq!(refused.recv_close().await.0, 4001);
    alice.assert_nothing_pending().await;

    let after = app.scrape().await;
    for (series, value) in [
        ("chatd_connections_open".to_string(), 2.0),
        ("chatd_room_actors_live".to_string(), 1.0),
        (events("room.create", "ok"), 1.0),
        (events("message.send", "ok"), 1.0),
        (events("unknown", "invalid_event_type"), 1.0),
        (events("room.info", "4004"), 1.0),
        (events("unknown", "4003"), 1.0),
        (events("session.heartbeat", "ok"), 1.0),
        // roomcreate.dispatch and message.dispatch, each to both connections.
        ("chatd_dispatches_total".to_string(), 2.0),
        ("chatd_deliveries_total".to_string(), 4.0),
        // One sample per dispatch, however many connections it reached.
        ("chatd_session_queue_fullness_count".to_string(), 2.0),
        ("chatd_slow_consumer_closes_total".to_string(), 0.0),
        (
            "chatd_auth_failures_total{reason=\"invalid\"}".to_string(),
            1.0,
        ),
        (
            "chatd_message_send_duration_seconds_count{stage=\"commit\"}".to_string(),
            1.0,
        ),
        (
            "chatd_message_send_duration_seconds_count{stage=\"dispatch\"}".to_string(),
            1.0,
        ),
    ] {
        assert_eq!(after.value(&series), value, "{series}");
    }
    for statement in ["select", "insert"] {
        let series = format!("chatd_db_query_duration_seconds_count{{statement=\"{statement}\"}}");
        assert!(
            after.value(&series) > before.value(&series),
            "{series} moved"
        );
    }
}

#[tokio::test]
async fn metrics_can_be_served_on_an_address_of_their_own() {
    let app = spawn_app_with(&[("metrics.bind", "127.0.0.1:0")]).await;
    let admin = app.metrics_port().expect("an admin port");
    assert_ne!(admin, app.port);

    assert_eq!(app.get("/metrics").await.status, 404);
    let scrape = http_request(admin, "GET", "/metrics", None).await;
    assert_eq!(scrape.status, 200);
    assert!(scrape
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    assert!(scrape.body.contains("chatd_connections_open 0"));
    // Nothing else lives there.
    assert_eq!(
        http_request(admin, "GET", "/healthz", None).await.status,
        404
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(&[("metrics.enabled", "false")]).await;
    assert_eq!(app.metrics_port(), None);
    assert_eq!(app.get("/metrics").await.status, 404);
}
