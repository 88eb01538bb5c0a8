//! The checkpointer: on a SQLite file, a connection of its own (and so a thread of sqlx's of
//! its own) that copies the write-ahead log into the database file shortly after the writer
//! commits, instead of the commit that fills the log doing it.
//!
//! Why: with SQLite's own checkpointing (`wal_autocheckpoint`), the commit that reaches the
//! threshold copies every page of the log into the database file and syncs both before it
//! returns: 10–60 ms under load, during which the writer ([`super::writer`]), the one serial
//! stage of every room write, commits nothing and every send queued behind that batch waits
//! (docs/performance.md, "Checkpoints off the write path"). A PASSIVE checkpoint from another
//! connection runs beside the writer's commits (WAL lets it) and never makes them wait; once a
//! checkpoint has copied the whole log, SQLite starts it over at a later commit.
//!
//! Durability does not change: a commit is in the log before it is answered, as before, and a
//! checkpoint syncs the log before it copies it, and the database file after (with
//! `sqlite_synchronous` = normal, as with SQLite's own checkpoints). The write connection keeps
//! its `wal_autocheckpoint` as the bound on the log should the checkpointer fall behind.
//! Writes outside the writer (session rows, leases) are copied with the next checkpoint.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};
use tokio::sync::watch;

use super::{is_sqlite, options, sqlite_file};
use crate::config::DatabaseSettings;

/// Starts the checkpointer on the current runtime when `delay` is given and the database is
/// a SQLite file; it waits for a commit (`commits`, [`super::writer::Writer::commits`]), lets
/// `delay` pass so that one checkpoint takes the commits made meanwhile too, checkpoints, and
/// ends once the writer has. An idle server never wakes it.
pub async fn launch(
    settings: &DatabaseSettings,
    delay: Option<Duration>,
    commits: watch::Receiver<u64>,
) -> Result<(), DbErr> {
    let Some(delay) = delay else {
        return Ok(());
    };
    if !is_sqlite(settings) || sqlite_file(&settings.url).is_none() {
        return Ok(());
    }
    let mut opts = options(settings, 1, 1);
    // Never used for anything else: nothing to ping, nothing to keep prepared.
    opts.test_before_acquire(false);
    opts.map_sqlx_sqlite_opts(|o| o.statement_cache_capacity(0));
    let db = Database::connect(opts).await?;
    tokio::spawn(run(db, delay, commits));
    Ok(())
}

async fn run(db: DatabaseConnection, delay: Duration, mut commits: watch::Receiver<u64>) {
    while commits.changed().await.is_ok() {
        tokio::time::sleep(delay).await;
        // The commits made while it waited are in this checkpoint too.
        commits.borrow_and_update();
        if let Err(e) = checkpoint(&db).await {
            log::warn!("the WAL checkpoint failed (the next commit tries again): {e}");
        }
    }
    db.close().await.ok();
}

/// Copies what it can of the log without waiting for (or holding up) readers or the writer.
async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    let sql = "PRAGMA wal_checkpoint(PASSIVE)";
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(drop)
}
