//! Wiring: connect and migrate the database, start the actors, bind the listeners. `main` and
//! the tests both go through [`Application::build`], and stop it through [`Shutdown`].

use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::prelude::*;
use actix_http::body::BoxBody;
use actix_http::{HttpService, Response};
use actix_service::{boxed, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse, HttpServer};
use sea_orm::DbErr;

use crate::app::AppState;
use crate::config::{Settings, WriterThread};
use crate::http::{self, health::Readiness};
use crate::metrics::Metrics;
use crate::notifications::replay::ReplayBounds;
use crate::notifications::{webhook, NotificationActor, NotificationConfig, NotificationStats};
use crate::presence::ledger::SessionLedger;
use crate::presence::{Deliver, Presence};
use crate::rooms::RoomRegistry;
use crate::store::writer::{Writer, WriterOptions, WriterStop};
use crate::store::{self, StoreError};
use crate::ws;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] DbErr),
    #[error("cannot prepare the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    server: Server,
    /// The listener of its own for `/metrics` (`metrics.bind`).
    admin: Option<Server>,
    port: u16,
    metrics_port: Option<u16>,
    state: Arc<AppState>,
    shutdown: Shutdown,
    /// Runs the room and notification actors, apart from the HTTP workers.
    actors: Arbiter,
    /// Runs the writer ([`store::writer`]) unless it runs with the rooms
    /// (`database.writer_thread`); then it stays idle.
    writes: Arbiter,
    writer_stop: WriterStop,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::new()?);
        let mut db = store::connect(&settings.database).await?;
        store::observe_queries(&mut db, metrics.clone());
        store::migrate(&db).await?;
        let stale = store::sessions::clear_all(&db).await?;
        if stale > 0 {
            log::info!("removed {stale} session rows left by an earlier run");
        }
        let mut reader = store::connect_readers(&settings.database, &db).await?;
        store::observe_queries(&mut reader, metrics.clone());

        let actors = Arbiter::new();
        let writes = Arbiter::new();
        let direct = store::direct::Direct::open(&settings.database)
            .map_err(|e| sea_orm::DbErr::Custom(format!("the writer's SQLite connection: {e}")))?;
        let writer_arbiter = match settings.database.writer_thread {
            WriterThread::Own | WriterThread::Adaptive => writes.handle(),
            WriterThread::Rooms => actors.handle(),
        };
        let (writer, writer_stop) = Writer::launch(
            &writer_arbiter,
            db.clone(),
            direct,
            Some(store::query_observer(metrics.clone())),
            WriterOptions::from_settings(&settings.database),
        );
        store::checkpoint::launch(
            &settings.database,
            settings.sqlite_checkpoint_delay(),
            writer.commits(),
        )
        .await?;
        let presence = Arc::new(Presence::new(metrics.clone(), settings.mailboxes.session));
        let delivery: Arc<dyn Deliver> = presence.clone();
        let notification_stats = Arc::new(NotificationStats::default());
        metrics.watch_notifications(notification_stats.clone())?;
        let (notifications, notices) = NotificationActor::launch(
            &actors.handle(),
            NotificationConfig {
                reader: reader.clone(),
                enabled: settings.notifications.enabled,
                mailbox: settings.mailboxes.notification,
                bounds: ReplayBounds {
                    per_room: settings.notifications.replay_per_room,
                    max_bytes: settings.notifications.replay_max_bytes,
                },
                presence: presence.clone(),
                stats: notification_stats.clone(),
                push: None,
            },
            webhook::launch(&settings.push),
        );
        let rooms = Arc::new(RoomRegistry::new(
            reader.clone(),
            writer,
            delivery.clone(),
            notices.clone(),
            actors.handle(),
            settings.rooms.actor_thread,
            settings.mailboxes.room,
            settings.room_actor_idle_timeout(),
        ));
        rooms.spawn_reaper();
        let readiness = Arc::new(Readiness::new(
            db.clone(),
            settings.database.clone(),
            settings.readiness_database_timeout(),
        ));
        let sessions = Arc::new(SessionLedger::default());
        sessions.spawn_flusher(db.clone(), settings.last_seen_flush_interval());
        sessions.spawn_row_writer(db.clone());
        let state = Arc::new(AppState {
            settings: settings.clone(),
            db,
            reader,
            presence: presence.clone(),
            delivery,
            rooms,
            notifications,
            notices,
            notification_stats,
            sessions,
            metrics,
        });

        let (listener, port) = bind(&settings.server.host, settings.server.port)?;
        let admin_listener = settings
            .metrics_bind()
            .filter(|_| settings.metrics.enabled)
            .map(|(host, port)| bind(host, port))
            .transpose()?;
        let metrics_on_main = settings.metrics.enabled && admin_listener.is_none();

        let routes = Routes {
            state: web::Data::from(state.clone()),
            readiness: web::Data::new(readiness.clone()),
            settings: settings.clone(),
            metrics_on_main,
        };
        let buffers = ws::SocketBuffers {
            read: settings.server.socket_read_bytes,
            write: settings.server.socket_write_bytes,
            write_stall: settings.write_stall_timeout(),
        };
        let addr = listener
            .local_addr()
            .map_err(|source| bind_error(&settings.server.host, port, source))?;
        // actix-web's `HttpServer` cannot give actix-http an upgrade service, so the main
        // listener is put together from the same parts, with the same settings.
        let mut builder = actix_server::Server::build()
            .disable_signals()
            .shutdown_timeout(whole_seconds(settings.shutdown_timeout()));
        if settings.server.workers > 0 {
            builder = builder.workers(settings.server.workers);
        }
        let shutdown_signal = builder.graceful_shutdown_signal();
        let server = builder
            .listen("chatd", listener, move || {
                let signal = shutdown_signal.clone();
                // The host and address actix-web would put here serve URL generation, which
                // chatd does not use (and actix-web keeps their constructor to itself).
                let config = |()| AppConfig::default();
                let upgrade_app = boxed::factory(
                    map_config(routes.application().into_factory(), config)
                        .map(Response::from)
                        .map_err(|e| e.error_response().into()),
                );
                HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let signal = signal.clone();
                        async move { signal.notified().await }
                    })
                    // Replies are small frames sent back to back; Nagle's algorithm would hold
                    // each one behind the client's delayed ACK of the previous (~40 ms).
                    .tcp_nodelay(true)
                    // Close the TCP connection as soon as a response that ends it is flushed,
                    // rather than keep reading ("lingering") for the client to close first.
                    .client_disconnect_timeout(Duration::ZERO)
                    .local_addr(addr)
                    // WebSockets leave the h1 dispatcher (and its buffers) after the handshake.
                    .upgrade(ws::UpgradeFactory::new(upgrade_app, buffers))
                    .finish(map_config(
                        routes
                            .application()
                            .into_factory()
                            .map_err(|e| e.error_response()),
                        config,
                    ))
                    .tcp()
            })
            .map_err(|source| bind_error(&settings.server.host, port, source))?
            .run();

        let (admin, metrics_port) = match admin_listener {
            Some((listener, admin_port)) => {
                let admin_state = web::Data::from(state.clone());
                let admin = HttpServer::new(move || {
                    App::new()
                        .app_data(admin_state.clone())
                        .configure(http::metrics::configure)
                })
                .disable_signals()
                .workers(1)
                .listen(listener)
                .map_err(|source| bind_error(&settings.metrics.bind, admin_port, source))?
                .run();
                (Some(admin), Some(admin_port))
            }
            None => (None, metrics_on_main.then_some(port)),
        };

        let mut servers = vec![server.handle()];
        servers.extend(admin.as_ref().map(Server::handle));
        let shutdown = Shutdown {
            readiness: Arc::downgrade(&readiness),
            presence: Arc::downgrade(&presence),
            servers,
            drain: settings.drain_period(),
        };
        Ok(Application {
            server,
            admin,
            port,
            metrics_port,
            state,
            shutdown,
            actors,
            writes,
            writer_stop,
        })
    }

    /// The bound port (useful when `server.port` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where `/metrics` is served: the main port, the `metrics.bind` listener's, or nowhere.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// What every connection shares (for tools and tests that observe the running server,
    /// e.g. the number of live room actors).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until stopped through [`Shutdown`].
    pub async fn run(self) -> std::io::Result<()> {
        let admin = async {
            match self.admin {
                Some(admin) => admin.await,
                None => Ok(()),
            }
        };
        let (main, admin) = tokio::join!(self.server, admin);
        // Between batches, so that no batch is cut off and no connection dropped off its runtime;
        // first, since the writer may run on the actors' thread (`database.writer_thread`).
        self.writer_stop.stop().await;
        self.actors.stop();
        self.writes.stop();
        main.and(admin)
    }
}

/// What the HTTP routes are built from, in each worker (and again for its upgrade service).
#[derive(Clone)]
struct Routes {
    state: web::Data<AppState>,
    readiness: web::Data<Arc<Readiness>>,
    settings: Arc<Settings>,
    metrics_on_main: bool,
}

impl Routes {
    fn application(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new()
            .app_data(self.state.clone())
            .app_data(self.readiness.clone())
            .configure(http::health::configure)
            .configure(|cfg| {
                if self.metrics_on_main {
                    http::metrics::configure(cfg);
                }
            })
            .configure(|cfg| http::console::configure(cfg, &self.settings))
            .route(
                &self.settings.server.websocket_path,
                web::route().to(ws::endpoint),
            )
            .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
    }
}

/// Stops the application. Cloneable, and usable from any thread or runtime. It holds the
/// server's parts weakly, so that nothing of the server outlives it in the holder's hands.
#[derive(Clone)]
pub struct Shutdown {
    readiness: Weak<Readiness>,
    presence: Weak<Presence>,
    servers: Vec<ServerHandle>,
    /// How long `/readyz` reports draining before the listeners close.
    drain: Duration,
}

impl Shutdown {
    /// The graceful stop: `/readyz` answers 503 "draining" from this call on; after
    /// `server.drain_seconds` the listeners close and every connection is told to go away
    /// (1001); connections then have `server.shutdown_timeout` to end before they are dropped.
    pub fn graceful(&self) -> impl Future<Output = ()> + 'static {
        if let Some(readiness) = self.readiness.upgrade() {
            readiness.start_draining();
        }
        let this = self.clone();
        async move {
            log::info!(
                "draining: /readyz reports 503 for {} s before the listener closes",
                this.drain.as_secs_f64()
            );
            tokio::time::sleep(this.drain).await;
            // `stop` sends its command at once; the futures only report completion.
            let stopping: Vec<_> = this.servers.iter().map(|s| s.stop(true)).collect();
            if let Some(presence) = this.presence.upgrade() {
                presence.close_all();
            }
            for stopped in stopping {
                stopped.await;
            }
        }
    }

    /// Stops at once: connections are dropped, not told.
    pub fn now(&self) {
        for server in &self.servers {
            drop(server.stop(false));
        }
    }
}

fn bind(host: &str, port: u16) -> Result<(TcpListener, u16), StartupError> {
    let listener = TcpListener::bind((host, port)).map_err(|e| bind_error(host, port, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| bind_error(host, port, e))?
        .port();
    Ok((listener, bound))
}

fn bind_error(host: &str, port: u16, source: std::io::Error) -> StartupError {
    StartupError::Bind {
        addr: format!("{host}:{port}"),
        source,
    }
}

/// actix counts its shutdown timeout in whole seconds; a fraction is rounded up.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A server running on a thread (and actix system) of its own, for tests, benches and tools
/// that drive it from another runtime. Stops when dropped.
pub struct BackgroundServer {
    pub port: u16,
    pub metrics_port: Option<u16>,
    shutdown: Shutdown,
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
                        let started = (app.port(), app.metrics_port(), app.shutdown(), state);
                        let _ = tx.send(Ok(started));
                        let _ = app.run().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (port, metrics_port, shutdown, state) = rx
            .recv()
            .map_err(|_| "server thread ended before starting".to_string())??;
        Ok(BackgroundServer {
            port,
            metrics_port,
            shutdown,
            state,
            thread: Some(thread),
        })
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The running server's shared state; `None` once it has stopped.
    pub fn state(&self) -> Option<Arc<AppState>> {
        self.state.upgrade()
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.shutdown.now();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
