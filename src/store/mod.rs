//! The only code that runs sea-orm queries. Functions are named by intent and take any
//! `ConnectionTrait` (or any [`exec::Exec`]: a message change's statements, which also run on
//! the writer's own SQLite connection), so an event handler can run several of them in one
//! transaction.

pub mod checkpoint;
pub mod direct;
pub mod exec;
pub mod messages;
pub mod notifications;
pub mod render;
pub mod rooms;
pub mod script;
pub mod sessions;
pub mod template;
pub mod unread;
pub mod users;
pub mod wal_writes;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, IsolationLevel, SqlErr, TransactionTrait,
};

use crate::config::{DatabaseSettings, SqliteSynchronous};
use crate::metrics::{Metrics, StatementKind};
use crate::protocol::errors::ChatError;

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
    /// A stored value this version cannot interpret (e.g. an unknown room type).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
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

/// How a store failure reaches the client. It lives here, beside `StoreError`, because the
/// protocol layer must not know the database; `ChatError` stays the one place failures become
/// frames.
impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Constraint(e) => {
                log::info!("constraint refused a write: {e}");
                ChatError::Integrity
            }
            StoreError::MissingReference(e) => {
                log::info!("a write referenced a vanished row: {e}");
                ChatError::NotFound
            }
            StoreError::Db(e) => ChatError::internal("database", e),
            StoreError::Corrupt(e) => ChatError::internal("stored data", e),
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

/// A read-only transaction whose queries all see one snapshot of the database (repeatable
/// read on PostgreSQL; any SQLite transaction reads one snapshot), for a read made of several
/// queries that must agree, such as a page of history.
pub async fn read_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    Ok(match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    })
}

/// The most variables one statement binds for a list that grows with a client's input or a
/// backlog (ids to read, acknowledge or delete, rows to insert, the rooms of a user). SQLite
/// refuses a statement that binds more than 32,766 (PostgreSQL 65,535); such lists are cut
/// into [`chunks`] of at most this many variables, so no statement comes near either limit
/// whatever the input, and a statement's other variables (a room id, a user id) still fit.
pub const MAX_LIST_BINDS: usize = 4096;

/// `items` in runs that bind at most [`MAX_LIST_BINDS`] variables each, when each item binds
/// `binds_per_item` (1 for an `IN` list, the column count for a multi-row insert). Every
/// chunk of one operation runs in the caller's transaction, so chunking changes the number
/// of statements, never the outcome.
pub fn chunks<T>(items: &[T], binds_per_item: usize) -> std::slice::Chunks<'_, T> {
    items.chunks((MAX_LIST_BINDS / binds_per_item.max(1)).max(1))
}

/// Timestamps are kept at microsecond precision so that what is stored, compared and rendered
/// agree on every backend.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Opens the pool every write goes through (and the reads of a write). SQLite runs in WAL mode
/// with foreign keys on and a busy timeout, on one connection: SQLite has one writer at a
/// time and makes contending writers sleep, while one connection queues them instead; the
/// room writes reach it batched by [`writer`], whose batches of plain sends run on a
/// connection of its own ([`direct`]) while holding this one. PostgreSQL gets
/// `max_connections`.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let (max, min) = if is_sqlite(settings) {
        (1, settings.min_connections.min(1))
    } else {
        (settings.max_connections, settings.min_connections)
    };
    let mut opts = options(settings, max, min);
    let synchronous = match settings.sqlite_synchronous {
        SqliteSynchronous::Normal => sea_orm::sqlx::sqlite::SqliteSynchronous::Normal,
        SqliteSynchronous::Full => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
    };
    let busy = Duration::from_secs_f64(settings.sqlite_busy_timeout);
    let cache = settings.statement_cache;
    let checkpoint = settings.sqlite_wal_autocheckpoint.to_string();
    // A connection to a local file does not go stale: pinging it before every use is a round
    // trip to its worker thread for nothing (a crashed worker fails the next query, and sqlx
    // still tests a connection as it comes back to the pool). PostgreSQL's keep the test.
    if is_sqlite(settings) {
        opts.test_before_acquire(false);
    }
    // The reads inside writes (`.one()` in a reaction, a membership check) are cached
    // statements with a bound LIMIT too: planned once, as on the readers.
    opts.map_sqlx_sqlite_pool_opts(|pool| {
        pool.after_connect(|conn, _meta| Box::pin(stable_plans(conn)))
    });
    opts.map_sqlx_sqlite_opts(move |o| {
        o.statement_cache_capacity(cache)
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(busy)
            // What SQLite keeps aside during a statement stays in memory instead of a file
            // created and unlinked for the purpose.
            .pragma("temp_store", "memory")
            // Only the writer commits, so only its checkpoints run. A checkpoint writes each
            // page once however often the WAL holds it: with the messages' random ids, a
            // longer interval saves most of the database file's writes
            // (docs/performance.md, "SQLite page writes per send").
            .pragma("wal_autocheckpoint", checkpoint.clone())
    });
    Database::connect(opts).await
}

/// The pool for reads that are not part of a write (room.list, room.info, history, replays,
/// loading a room). On a SQLite file: `sqlite_readers` connections of their own, which WAL
/// lets read while the writer writes, each seeing the last commit made before its read
/// began; they are `query_only`, so a write sent to them by mistake fails instead of taking
/// the write lock, and they plan a cached statement once ([`stable_plans`]). Elsewhere
/// (PostgreSQL, an in-memory SQLite database that other connections could not see) it is
/// `writes` itself. Open it after [`migrate`]: the reader relies on the writer having made
/// the file WAL.
pub async fn connect_readers(
    settings: &DatabaseSettings,
    writes: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if !is_sqlite(settings) || sqlite_file(&settings.url).is_none() {
        return Ok(writes.clone());
    }
    let readers = settings.sqlite_readers;
    let mut opts = options(settings, readers, settings.min_connections.min(readers));
    let busy = Duration::from_secs_f64(settings.sqlite_busy_timeout);
    let cache = settings.statement_cache;
    // As for the writes' connection: no ping before each read.
    opts.test_before_acquire(false);
    opts.map_sqlx_sqlite_pool_opts(|pool| {
        pool.after_connect(|conn, _meta| Box::pin(stable_plans(conn)))
    });
    opts.map_sqlx_sqlite_opts(move |o| {
        o.statement_cache_capacity(cache)
            .foreign_keys(true)
            .busy_timeout(busy)
            .pragma("query_only", "ON")
            .pragma("temp_store", "memory")
    });
    Database::connect(opts).await
}

/// Turns on SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) on a
/// connection. SQLite 3.51 plans a `LIMIT ?` with the value bound to it and marks the statement
/// to be planned again whenever that value is bound anew, i.e. at every execution of a cached
/// statement with a bound LIMIT (each `.one()`, a page of history, `newest_pending`): a full
/// re-prepare, ~210 k instructions for the replay's (docs/performance.md, "The render in fewer
/// queries"). chatd never runs `ANALYZE`, so a bound value has nothing else to tell the
/// planner and the plans stay the same.
async fn stable_plans(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: the locked handle keeps sqlx's worker off the connection for the call;
    // ENABLE_QPSG takes an int and an optional int pointer to report the new state, NULL here.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            db.as_ptr().cast(),
            rusqlite::ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1i32,
            std::ptr::null_mut::<i32>(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLITE_DBCONFIG_ENABLE_QPSG failed with code {rc}").into(),
        ));
    }
    Ok(())
}

fn is_sqlite(settings: &DatabaseSettings) -> bool {
    settings.url.starts_with("sqlite:")
}

fn options(settings: &DatabaseSettings, max: u32, min: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(max)
        .min_connections(min)
        .acquire_timeout(Duration::from_secs_f64(settings.acquire_timeout))
        .sqlx_logging(false);
    // sqlx keeps 100 prepared statements a connection by default. Most of the writer's are
    // multi-row statements whose text changes with the batch (messages, rooms, senders), so
    // they are rarely reused and a long cache holds mostly those, at a fraction of a
    // megabyte each (docs/performance.md, "Multi-row statements per batch").
    let cache = settings.statement_cache;
    opts.map_sqlx_postgres_opts(move |o| o.statement_cache_capacity(cache));
    opts
}

/// Told of a query run outside a `DatabaseConnection`'s own timing (the writer's folded
/// transactions, [`script::Script::run_committed`]): its text, how long it took, whether it
/// failed. What [`observe_queries`] is told of the others.
pub type QueryObserver = Arc<dyn Fn(&str, Duration, bool) + Send + Sync>;

/// Times queries into `metrics`, by the kind of their (first) statement.
pub fn query_observer(metrics: Arc<Metrics>) -> QueryObserver {
    Arc::new(move |sql, elapsed, failed| {
        metrics.db_query(StatementKind::of(sql), elapsed, failed);
    })
}

/// Times every statement run through `db` (and through every clone made afterwards, and every
/// transaction begun on them) into `metrics`.
pub fn observe_queries(db: &mut DatabaseConnection, metrics: Arc<Metrics>) {
    let observe = query_observer(metrics);
    db.set_metric_callback(move |info| {
        observe(&info.statement.sql, info.elapsed, info.failed);
    });
}

/// Whether the database can serve, for readiness checks: a pooled connection answers a ping.
/// A SQLite database must also still exist at its path: a deleted file keeps working through
/// the open handle, but everything written to it is lost at the next start.
pub async fn check_reachable(
    db: &DatabaseConnection,
    settings: &DatabaseSettings,
) -> Result<(), StoreError> {
    if let Some(path) = sqlite_file(&settings.url) {
        if !path.exists() {
            return Err(StoreError::Db(DbErr::Custom(format!(
                "the SQLite file {} no longer exists",
                path.display()
            ))));
        }
    }
    db.ping().await.map_err(StoreError::Db)
}

/// The file behind a `sqlite:` URL, if it names one (not `:memory:`).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://chat.db?mode=rwc"),
            Some(PathBuf::from("chat.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/chatd/chat.db"),
            Some(PathBuf::from("/var/lib/chatd/chat.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn chunks_stay_within_the_bind_budget_and_keep_every_item_in_order() {
        let items: Vec<u32> = (0..50_000).collect();
        for per_item in [1, 2, 4, 9] {
            let parts: Vec<&[u32]> = chunks(&items, per_item).collect();
            assert!(parts.iter().all(|c| c.len() * per_item <= MAX_LIST_BINDS));
            assert_eq!(parts.concat(), items);
        }
        assert_eq!(chunks::<u32>(&[], 1).count(), 0);
    }
}
