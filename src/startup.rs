//! Wiring: connect and migrate the database, start the actors, bind the listener. `main` and
//! the tests both go through [`Application::build`].

use std::net::TcpListener;
use std::sync::{Arc, Weak};

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpResponse, HttpServer};
use sea_orm::DbErr;

use crate::app::AppState;
use crate::config::Settings;
use crate::notifications::NotificationActor;
use crate::presence::{Deliver, Presence};
use crate::rooms::RoomRegistry;
use crate::store::{self, StoreError};
use crate::ws;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] DbErr),
    #[error("cannot prepare the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    server: Server,
    port: u16,
    state: Arc<AppState>,
    /// Runs the room and notification actors, apart from the HTTP workers.
    actors: Arbiter,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let settings = Arc::new(settings);
        let db = store::connect(&settings.database).await?;
        store::migrate(&db).await?;
        let stale = store::sessions::clear_all(&db).await?;
        if stale > 0 {
            log::info!("removed {stale} session rows left by an earlier run");
        }

        let actors = Arbiter::new();
        let presence = Arc::new(Presence::default());
        let delivery: Arc<dyn Deliver> = presence.clone();
        let rooms = Arc::new(RoomRegistry::new(
            db.clone(),
            delivery.clone(),
            actors.handle(),
            settings.mailboxes.room,
            settings.room_actor_idle_timeout(),
        ));
        rooms.spawn_reaper();
        let notifications = {
            let (db, enabled, cap) = (
                db.clone(),
                settings.notifications.enabled,
                settings.mailboxes.notification,
            );
            NotificationActor::start_in_arbiter(&actors.handle(), move |_| {
                NotificationActor::new(db, enabled, cap)
            })
        };
        let state = Arc::new(AppState {
            settings: settings.clone(),
            db,
            presence,
            delivery,
            rooms,
            notifications,
            background: tokio::runtime::Handle::current(),
        });

        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: addr.clone(),
                source,
            })?
            .port();
        let data = web::Data::from(state.clone());
        let path = settings.server.websocket_path.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(&path, web::route().to(ws::endpoint))
                .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
        })
        // Replies are small frames sent back to back; Nagle's algorithm would hold each one
        // behind the client's delayed ACK of the previous (~40 ms).
        .tcp_nodelay(true)
        // Close the TCP connection as soon as the close frame is flushed. Otherwise actix keeps
        // reading ("lingering") up to this timeout, waiting for the client to close first, since
        // a WebSocket's request body only ends with the connection.
        .client_disconnect_timeout(std::time::Duration::ZERO)
        .disable_signals();
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr, source })?
            .run();
        Ok(Application {
            server,
            port,
            state,
            actors,
        })
    }

    /// The bound port (useful when `server.port` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// What every connection shares (for tools and tests that observe the running server,
    /// e.g. the number of live room actors).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until the server is stopped through its [`ServerHandle`].
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.actors.stop();
        result
    }
}

/// A server running on a thread (and actix system) of its own, for tests, benches and tools
/// that drive it from another runtime. Stops when dropped.
pub struct BackgroundServer {
    pub port: u16,
    handle: ServerHandle,
    /// Weak, so that nothing of the server outlives it on the caller's thread.
    state: Weak<AppState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Builds the application on a new thread and returns once it is listening.
    pub fn start(settings: Settings) -> Result<BackgroundServer, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Application::build(settings).await {
                    Ok(app) => {
                        let state = Arc::downgrade(&app.state());
                        let _ = tx.send(Ok((app.port(), app.handle(), state)));
                        let _ = app.run().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (port, handle, state) = rx
            .recv()
            .map_err(|_| "server thread ended before starting".to_string())??;
        Ok(BackgroundServer {
            port,
            handle,
            state,
            thread: Some(thread),
        })
    }

    /// The running server's shared state; `None` once it has stopped.
    pub fn state(&self) -> Option<Arc<AppState>> {
        self.state.upgrade()
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only reports completion.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
