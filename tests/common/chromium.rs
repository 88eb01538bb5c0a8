//! A headless Chromium driven over the DevTools protocol, for the browser console's tests:
//! pages (tabs), script evaluation, real mouse clicks and typing, screenshots. CDP is JSON over
//! a WebSocket, so the test client's WebSocket stack is all it needs.
//!
//! Debian's `chromium` package (`.ci/run` installs it). A missing browser fails the test,
//! unless `CHATD_SKIP_BROWSER_TEST=1` says to skip it (for machines without one; CI never sets
//! it). `CHROMIUM=/path/to/chrome` picks another binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long to wait for the browser or for a condition on a page (a hang guard, not a
/// speed requirement).
const WAIT: Duration = Duration::from_secs(20);
/// The console's frames panel as one line a frame (direction, event, the first bytes of its
/// body), the last 60 of them.
const LAST_FRAMES: &str = "[...document.querySelectorAll('#frames .frame')].slice(-60).map(f => \
    (f.classList.contains('out') ? '-> ' : '<- ') + (f.querySelector('.name') || f).textContent.trim() \
    + ' ' + (f.querySelector('pre') ? f.querySelector('pre').textContent.replace(/\\s+/g, ' ').slice(0, 160) : '')).join('\\n')";

/// The flags this machine needs: no sandbox (root in a container), no GPU, and nothing that
/// reaches out to the network.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,800",
];

pub struct Chromium {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Uncaught exceptions and console errors, per page session.
    problems: Vec<(String, String)>,
}

/// One tab, attached through its own CDP session.
pub struct Page {
    session: String,
    pub name: &'static str,
}

fn find_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

impl Chromium {
    /// Starts a fresh browser with a profile of its own. `None` only when no browser is
    /// installed and `CHATD_SKIP_BROWSER_TEST=1`.
    pub async fn launch(artefacts: &Path) -> Option<Chromium> {
        let Some(binary) = find_binary() else {
            if std::env::var("CHATD_SKIP_BROWSER_TEST").as_deref() == Ok("1") {
                eprintln!("chromium not found: skipped because CHATD_SKIP_BROWSER_TEST=1");
                return None;
            }
            panic!(
                "chromium not found: install Debian's `chromium` package (bash .ci/run does), \
                 set CHROMIUM=/path/to/chrome, or set CHATD_SKIP_BROWSER_TEST=1 to skip"
            );
        };
        std::fs::create_dir_all(artefacts).expect("artefact directory");
        let profile = std::env::temp_dir().join(format!("chatd-chromium-{}", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(artefacts.join("chromium.log")).expect("chromium.log");
        let mut child = Command::new(&binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));

        // Chromium writes the port it chose, and the browser's WebSocket path, into the profile.
        let active_port = profile.join("DevToolsActivePort");
        let started = Instant::now();
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&active_port) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromium exited ({status}); see target/…/chromium.log");
            }
            assert!(started.elapsed() < WAIT, "chromium did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(&endpoint)
            .await
            .expect("connect to chromium");
        Some(Chromium {
            child,
            profile,
            ws,
            next_id: 0,
            problems: Vec::new(),
        })
    }

    /// One CDP command; events that arrive meanwhile are scanned for page errors.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .expect("send to chromium");
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            let Some(Ok(Message::Text(text))) = next else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).expect("CDP JSON");
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.note_event(&message);
        }
    }

    fn note_event(&mut self, event: &Value) {
        let session = event["sessionId"].as_str().unwrap_or_default().to_string();
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let details = &event["params"]["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("exception")
                    .to_string();
                self.problems.push((session, text));
            }
            Some("Runtime.consoleAPICalled") if event["params"]["type"] == "error" => {
                self.problems
                    .push((session, event["params"]["args"].to_string()));
            }
            _ => {}
        }
    }

    /// A new tab showing `url`, once its document has loaded.
    pub async fn open(&mut self, name: &'static str, url: &str) -> Page {
        // A window of its own: a background tab gets its input events only after a delay.
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "newWindow": true}),
            )
            .await["targetId"]
            .clone();
        let session = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        let page = Page { session, name };
        for method in ["Runtime.enable", "Page.enable"] {
            self.call(Some(&page.session), method, json!({})).await;
        }
        self.call(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        self.call(Some(&page.session), "Page.navigate", json!({"url": url}))
            .await;
        self.wait_until(
            &page,
            "document.readyState === 'complete'",
            "the page loads",
        )
        .await;
        page
    }

    /// Evaluates `expression` in the page; returns its value.
    pub async fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let result = self
            .call(
                Some(&page.session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            panic!("{}: `{expression}` threw {details}", page.name);
        }
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is truthy on the page.
    pub async fn wait_until(&mut self, page: &Page, condition: &str, what: &str) {
        let started = Instant::now();
        loop {
            let value = self.eval(page, &format!("Boolean({condition})")).await;
            if value == json!(true) {
                return;
            }
            if started.elapsed() > WAIT {
                // The frames first, one line each: CI keeps only the ends of a long output.
                let frames = self.eval(page, LAST_FRAMES).await;
                let text = self
                    .eval(page, "document.body ? document.body.innerText : ''")
                    .await;
                panic!(
                    "{}: waited in vain for {what} ({condition}); its last frames:\n{}\nthe page shows:\n{}",
                    page.name,
                    frames.as_str().unwrap_or_default(),
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of every element matching `selector`.
    pub async fn texts(&mut self, page: &Page, selector: &str) -> Vec<String> {
        let expression = format!(
            "[...document.querySelectorAll({})].map(e => e.textContent.trim())",
            json!(selector)
        );
        serde_json::from_value(self.eval(page, &expression).await).expect("strings")
    }

    /// A real mouse click in the middle of the element.
    pub async fn click(&mut self, page: &Page, selector: &str) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()",
            json!(selector)
        );
        let point = self.eval(page, &expression).await;
        assert!(
            point.is_object(),
            "{}: nothing matches {selector}",
            page.name
        );
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                Some(&page.session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": point["x"], "y": point["y"], "button": "left",
                       "clickCount": 1}),
            )
            .await;
        }
    }

    /// Clicks into a field, clears it and types `text` as keyboard input would.
    pub async fn type_into(&mut self, page: &Page, selector: &str, text: &str) {
        self.click(page, selector).await;
        self.eval(
            page,
            &format!("document.querySelector({}).select()", json!(selector)),
        )
        .await;
        self.call(
            Some(&page.session),
            "Input.insertText",
            json!({"text": text}),
        )
        .await;
    }

    /// Presses Enter in the focused element (submits its form).
    pub async fn press_enter(&mut self, page: &Page) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": "Enter", "code": "Enter",
                       "windowsVirtualKeyCode": 13, "text": "\r"}),
            )
            .await;
        }
    }

    /// Saves a PNG of the page.
    pub async fn screenshot(&mut self, page: &Page, path: &Path) {
        self.call(Some(&page.session), "Page.bringToFront", json!({}))
            .await;
        let shot = self
            .call(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .expect("base64");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Script errors the pages reported so far.
    pub fn problems(&self, page: &Page) -> Vec<String> {
        self.problems
            .iter()
            .filter(|(session, _)| *session == page.session)
            .map(|(_, text)| text.clone())
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
