//! A real webhook receiver for the push tests: an actix-web server on 127.0.0.1:0, on a
//! thread and actix system of its own. It records every request (headers and body) and
//! answers from a script: a status, or hanging without answering; once the script runs out
//! it answers 200.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::mpsc;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Never answers (the sender's timeout decides).
    Hang,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub delivery: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    seen: mpsc::UnboundedSender<Received>,
}

pub struct Receiver {
    pub url: String,
    seen: mpsc::UnboundedReceiver<Received>,
    stop: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then 200.
    pub fn start(script: &[Answer]) -> Receiver {
        let (tx, seen) = mpsc::unbounded_channel();
        let shared = web::Data::new(Shared {
            script: Mutex::new(script.iter().copied().collect()),
            seen: tx,
        });
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))
                .expect("bind the receiver");
                let port = server.addrs()[0].port();
                let server = server.run();
                let _ = ready_tx.send((port, server.handle()));
                let _ = server.await;
            });
        });
        let (port, stop) = ready.recv().expect("the receiver starts");
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/chat"),
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// The next request the receiver got (a hang guard, not a speed requirement).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(15), self.seen.recv())
            .await
            .expect("timed out waiting for a push")
            .expect("the receiver is running")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.stop.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let _ = shared.seen.send(Received {
        signature: header("x-chatd-signature"),
        delivery: header("x-chatd-delivery"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    let next = shared
        .script
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop_front();
    match next.unwrap_or(Answer::Status(200)) {
        Answer::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).expect("a status"))
                .finish()
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            HttpResponse::Ok().finish()
        }
    }
}
