//! `AppState`: what every connection and event handler shares. It sits below everything that
//! uses it (startup builds it, `ws`, `events` and `notifications` read it), so none of those
//! modules needs another to reach the shared state.

use std::sync::Arc;

use actix::Addr;
use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::notifications::{Notices, NotificationActor, NotificationStats};
use crate::presence::ledger::SessionLedger;
use crate::presence::{Deliver, Presence};
use crate::rooms::RoomRegistry;

pub struct AppState {
    pub settings: Arc<Settings>,
    /// Where writes go (and the reads a write makes in its own transaction).
    pub db: DatabaseConnection,
    /// Reads that are not part of a write (on SQLite, connections of their own that read
    /// while the writer writes; `db` itself on PostgreSQL).
    pub reader: DatabaseConnection,
    /// The local connection registry (sessions register here).
    pub presence: Arc<Presence>,
    /// Where dispatches go (the fan-out seam; today the local registry).
    pub delivery: Arc<dyn Deliver>,
    pub rooms: Arc<RoomRegistry>,
    pub notifications: Addr<NotificationActor>,
    /// How committed events tell the `NotificationActor` about new notifications (push).
    pub notices: Notices,
    /// What happened to notices and pushes (drops, deliveries, failures).
    pub notification_stats: Arc<NotificationStats>,
    /// The session rows: written and removed in rounds, and the heartbeats noted for the
    /// batched `last_seen` writes. Its tasks run on the system runtime, which outlives the
    /// HTTP workers, so a worker shutting down cannot cut a row's write off.
    pub sessions: Arc<SessionLedger>,
    pub metrics: Arc<Metrics>,
}
