//! The log output of the real binary: `log.format = "json"` gives one JSON object per line,
//! every line about a connection names it, and neither tokens nor message content appear at
//! the default level. SIGTERM drains and stops the server cleanly.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatd::auth::{issue, NewToken};
use chatd::config::Settings;
use common::{create_one_to_one, send_message, Client};
use serde_json::Value;

const CONTENT: &str = "content-that-must-never-be-logged";
const BAD_TOKEN: &str = "token-that-must-never-be-logged";

#[tokio::test]
async fn json_logs_name_the_connection_and_never_contain_tokens_or_content() {
    let (url, _database) = common::fresh_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .env("CHAT__DATABASE__URL", &url)
        .env("CHAT__SERVER__PORT", "0")
        .env("CHAT__SERVER__DRAIN_SECONDS", "0")
        .env("CHAT__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatd");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut stderr = child.stderr.take().expect("stderr");
    // Both pipes are drained on threads of their own so that a full pipe never blocks the
    // server; stdout reports the port as soon as the banner names it.
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let banner = std::thread::spawn(move || {
        let mut text = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.strip_prefix("chatd is listening on ws://127.0.0.1:") {
                let _ = port_tx.send(rest.split('/').next().unwrap_or("").parse::<u16>());
            }
            text.push_str(&line);
            line.clear();
        }
        text
    });
    let port = tokio::task::spawn_blocking(move || port_rx.recv())
        .await
        .expect("join")
        .expect("chatd printed its port")
        .expect("a port number");

    // Two users chat; a third connection is refused.
    let auth = Settings::load_with(None, &[]).expect("defaults").auth;
    let token = |user_id: i64| {
        issue(
            &auth,
            &NewToken {
                user_id,
                username: Some(format!("user{user_id}")),
                ..Default::default()
            },
        )
        .expect("sign")
    };
    let ws = format!("ws://127.0.0.1:{port}/messaging/");
    let (alice_token, bob_token) = (token(1), token(2));
    let mut alice = Client::open(&format!("{ws}?token={alice_token}"))
        .await
        .unwrap();
    let mut bob = Client::open(&format!("{ws}?token={bob_token}"))
        .await
        .unwrap();
    alice.recv().await;
    bob.recv().await;
    let room = create_one_to_one(&mut alice, 1, &mut bob, 2).await;
    send_message(&mut alice, room, CONTENT).await;
    bob.recv_dispatch("message.dispatch").await;
    let mut refused = Client::open(&format!("{ws}?token={BAD_TOKEN}"))
        .await
        .unwrap();
    assert_eq!(refused.recv_close().await.0, 4001);
    alice.close().await;
    bob.close().await;

    // SIGTERM: drain (0 s here), close, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "chatd did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let logs = logs.join().expect("stderr");
    let banner = banner.join().expect("stdout");

    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["ts", "level", "target", "msg"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    let conn_of = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["msg"].as_str().unwrap().starts_with(prefix))
            .map(|l| l["conn"].as_str().expect("a conn field").to_string())
            .collect()
    };
    let opened = conn_of("connection opened");
    let closed = conn_of("connection closed");
    let refusals = conn_of("refusing connection");
    assert_eq!(opened.len(), 2, "{logs}");
    assert_eq!(refusals.len(), 1, "{logs}");
    let mut both = opened.clone();
    both.sort();
    let mut ended = closed.clone();
    ended.sort();
    assert_eq!(
        both, ended,
        "each opened connection is closed under the same id"
    );
    for id in opened.iter().chain(&refusals) {
        uuid::Uuid::parse_str(id).expect("conn is a UUID");
    }
    assert!(lines
        .iter()
        .any(|l| l["msg"].as_str().unwrap().starts_with("shutting down")));

    for secret in [CONTENT, BAD_TOKEN, alice_token.as_str(), bob_token.as_str()] {
        assert!(!logs.contains(secret), "{secret} was logged:\n{logs}");
        assert!(!banner.contains(secret), "{secret} was printed");
    }
}
