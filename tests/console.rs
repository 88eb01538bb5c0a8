//! The browser console's HTTP side: the page and its assets come from the binary, and the
//! development token route exists only with the console on and the development secret in use.

mod common;

use common::{spawn_app, spawn_app_with, Client};
use serde_json::json;

#[tokio::test]
async fn the_console_page_and_its_assets_are_served_from_the_binary() {
    let app = spawn_app().await;

    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // This server's settings are filled in.
    for filled in [
        r#"<meta name="chatd-websocket-path" content="/messaging/">"#,
        r#"<meta name="chatd-user-id-claim" content="user_id">"#,
        r#"<meta name="chatd-heartbeat-seconds" content="20.000">"#,
        r#"<meta name="chatd-dev-tokens" content="on">"#,
    ] {
        assert!(page.body.contains(filled), "{filled}");
    }
    assert!(!page.body.contains("{{"), "every placeholder is filled");
    // Nothing is loaded from elsewhere.
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));

    for (path, content_type, marker) in [
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "\"use strict\"",
        ),
        ("/console/style.css", "text/css; charset=utf-8", ".messages"),
    ] {
        let asset = app.get(path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(asset.header("content-type"), Some(content_type), "{path}");
        assert!(asset.body.contains(marker), "{path}");
    }
}

#[tokio::test]
async fn the_development_token_route_mints_tokens_the_endpoint_accepts() {
    let app = spawn_app().await;

    let minted = app
        .post_json("/console/token", &json!({"user_id": 7, "username": "gina"}))
        .await;
    assert_eq!(minted.status, 200, "{}", minted.body);
    let token = minted.json()["token"]
        .as_str()
        .expect("a token")
        .to_string();

    let mut gina = Client::open(&format!("{}?token={token}", app.ws_url()))
        .await
        .unwrap();
    assert_eq!(gina.recv().await["eventType"], "chat.notifications");
    // The username claim created the user: alice sees "gina" in their new room.
    let mut alice = app.user(1).await;
    alice
        .emit(
            "room.create",
            json!({"type": "OneToOneChat", "participants": [7]}),
        )
        .await;
    let room = alice.recv_dispatch("roomcreate.dispatch").await;
    assert_eq!(room["participants"][1]["username"], "gina");
    assert_eq!(gina.recv_dispatch("roomcreate.dispatch").await, room);

    let bad = app
        .post_json("/console/token", &json!({"user_id": "seven"}))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].is_string());
}

#[tokio::test]
async fn with_another_secret_the_console_cannot_mint_tokens() {
    let app = spawn_app_with(&[("auth.jwt_secret", "a-real-secret-from-the-vault")]).await;

    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(r#"<meta name="chatd-dev-tokens" content="off">"#));
    let minted = app
        .post_json("/console/token", &json!({"user_id": 1}))
        .await;
    assert_eq!(minted.status, 404);
}

#[tokio::test]
async fn with_the_console_disabled_there_is_no_page_and_no_token_route() {
    let app = spawn_app_with(&[("console.enabled", "false")]).await;

    for path in ["/", "/console/app.js", "/console/style.css"] {
        assert_eq!(app.get(path).await.status, 404, "{path}");
    }
    let minted = app
        .post_json("/console/token", &json!({"user_id": 1}))
        .await;
    assert_eq!(minted.status, 404);
}
