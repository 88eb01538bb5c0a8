//! The only code that runs sea-orm queries. Functions are named by intent and take any
//! `ConnectionTrait`, so an event handler can run several of them in one transaction.

pub mod messages;
pub mod notifications;
pub mod render;
pub mod rooms;
pub mod sessions;
pub mod users;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};

use crate::config::DatabaseSettings;

pub use sea_orm::DatabaseConnection as Db;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or check constraint refused the write (the wire's 4005).
    #[error("constraint violated: {0}")]
    Constraint(DbErr),
    /// The write referenced a row that no longer exists (deleted meanwhile): the wire's 4004.
    #[error("referenced row is gone: {0}")]
    MissingReference(DbErr),
    #[error("database error: {0}")]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::MissingReference(err),
            Some(_) => StoreError::Constraint(err),
            None if is_check_violation(&err) => StoreError::Constraint(err),
            None => StoreError::Db(err),
        }
    }
}

/// sea-orm classifies unique and foreign-key violations; check constraints (reply xor forward,
/// MIME types) are recognised by the drivers' messages and SQLSTATE.
fn is_check_violation(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("CHECK constraint failed")
        || text.contains("23514")
        || text.contains("violates check constraint")
}

/// Timestamps are kept at microsecond precision so that what is stored, compared and rendered
/// agree on every backend.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Opens the pool. SQLite runs in WAL mode with foreign keys on and a busy timeout, with a
/// pool of its own size (`sqlite_max_connections`, by default one connection that queues
/// writers instead of letting them sleep on the lock).
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let (max, min) = if settings.url.starts_with("sqlite:") {
        let max = settings.sqlite_max_connections;
        (max, settings.min_connections.min(max))
    } else {
        (settings.max_connections, settings.min_connections)
    };
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(max)
        .min_connections(min)
        .acquire_timeout(Duration::from_secs_f64(settings.acquire_timeout))
        .sqlx_logging(false);
    let busy = Duration::from_secs_f64(settings.sqlite_busy_timeout);
    opts.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy)
    });
    Database::connect(opts).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
