//! `/healthz` and `/readyz`, as a load balancer sees them: while serving, with the database
//! gone, and while draining for shutdown.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::json;
use tokio::net::TcpStream;

#[tokio::test]
async fn healthz_and_readyz_answer_200_while_the_server_serves() {
    let app = spawn_app().await;

    let health = app.get("/healthz").await;
    let ready = app.get("/readyz").await;

    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json(), json!({"status": "ready"}));
}

#[tokio::test]
async fn readyz_answers_503_with_a_reason_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status, 200);

    app.destroy_database().await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("database unreachable: "), "{reason}");
    // The process is still up: only readiness fails.
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn draining_turns_readyz_503_while_connections_keep_working() {
    let app = spawn_app_with(&[("server.drain_seconds", "3600")]).await;
    let mut alice = app.user(1).await;

    // Draining starts with the call; the listener would close after an hour.
    let stopping = tokio::spawn(app.shutdown().graceful());

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json(),
        json!({"status": "unavailable", "reason": "draining"})
    );
    assert_eq!(app.get("/healthz").await.status, 200);
    // Established and new connections are still served until the listener closes.
    alice.assert_nothing_pending().await;
    let mut bob = app.user(2).await;
    bob.assert_nothing_pending().await;
    stopping.abort();
}

#[tokio::test]
async fn a_graceful_stop_closes_connections_with_1001_and_the_listener() {
    let app = spawn_app_with(&[("server.drain_seconds", "0")]).await;
    let mut alice = app.user(1).await;

    app.shutdown().graceful().await;

    assert_eq!(
        alice.recv_close().await,
        (1001, "Server shutting down".to_string())
    );
    assert!(
        TcpStream::connect(("127.0.0.1", app.port)).await.is_err(),
        "the listener is closed"
    );
}
