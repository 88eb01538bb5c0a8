//! The session rows (messages.md §15, DECISIONS 10): one per open connection, written at
//! connect and removed at close; `last_seen` is refreshed here, in batches. A heartbeat only
//! notes its connection in memory; one task writes the `last_seen` of every connection noted
//! since its previous round, every `sessions.last_seen_flush_interval`, in one statement per
//! [`crate::store::chunks`] run. So a heartbeat costs no database write, and `last_seen` lags
//! by at most one interval (it is internal: nothing on the wire shows it).
//!
//! The rows themselves are written by one task too ([`SessionLedger::open`],
//! [`SessionLedger::close`]): it takes every opened and closed connection queued since its
//! previous round and writes them with one `INSERT` and one `DELETE` (per `chunks` run), so
//! that connections opening together (a reconnect storm) share a statement and a commit
//! instead of queueing one each on the database's one write connection. A lone connect costs
//! one statement, as before. The queue holds at most one open and one close per connection.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::store;

pub struct SessionLedger {
    /// Connections heard from since the last flush (ids, not their text: 16 bytes each and no
    /// allocation per heartbeat).
    heard: Mutex<HashSet<Uuid>>,
    /// To the task that writes the rows ([`SessionLedger::spawn_row_writer`]).
    rows: mpsc::UnboundedSender<Row>,
    /// Taken by that task when it starts.
    queued: Mutex<Option<mpsc::UnboundedReceiver<Row>>>,
}

/// A session row to write, in the order connections open and close: a connection's close is
/// queued after its open, so it never overtakes it.
enum Row {
    Opened {
        user_id: i64,
        connection_id: Uuid,
        at: DateTime<Utc>,
        /// Told once the row is written (or failed to be: logged).
        written: watch::Sender<bool>,
    },
    Closed(Uuid),
}

impl Default for SessionLedger {
    fn default() -> Self {
        let (rows, queued) = mpsc::unbounded_channel();
        SessionLedger {
            heard: Mutex::default(),
            rows,
            queued: Mutex::new(Some(queued)),
        }
    }
}

impl SessionLedger {
    /// `connection_id` of `user_id` opened now: its row is written with the others queued
    /// meanwhile. The receiver becomes true once it is (or once writing it failed: logged).
    pub fn open(&self, user_id: i64, connection_id: Uuid) -> watch::Receiver<bool> {
        let (written, done) = watch::channel(false);
        let row = Row::Opened {
            user_id,
            connection_id,
            at: store::now(),
            written,
        };
        if let Err(mpsc::error::SendError(Row::Opened { written, .. })) = self.rows.send(row) {
            // No writer (the server is stopping): nothing to wait for.
            log::warn!(conn:% = connection_id; "session row not written: the server is stopping");
            let _ = written.send(true);
        }
        done
    }

    /// The connection closed: its row is removed (after it was written), and it has no
    /// `last_seen` to flush any more.
    pub fn close(&self, connection_id: Uuid) {
        self.forget(connection_id);
        let _ = self.rows.send(Row::Closed(connection_id));
    }

    /// Writes the rows queued through [`SessionLedger::open`] and [`SessionLedger::close`] on
    /// the current runtime, each round everything queued since the previous one, for as long
    /// as the ledger exists. A task of the tokio runtime itself, not of actix's local set: at
    /// shutdown the runtime drops it inside its own context, which a query cut off mid-way
    /// needs (sqlx hands a pooled connection back through a task as it is dropped).
    pub fn spawn_row_writer(&self, db: DatabaseConnection) {
        let queued = self.queued.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut queued) = queued else {
            return;
        };
        tokio::runtime::Handle::current().spawn(async move {
            let mut round = Vec::new();
            while queued.recv_many(&mut round, usize::MAX).await > 0 {
                write_rows(&db, std::mem::take(&mut round)).await;
            }
        });
    }

    /// `connection_id` sent a heartbeat: its `last_seen` is written at the next flush.
    pub fn heard(&self, connection_id: Uuid) {
        self.noted().insert(connection_id);
    }

    /// Nothing to flush for this connection (its row is being removed).
    fn forget(&self, connection_id: Uuid) {
        self.noted().remove(&connection_id);
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.heard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the `last_seen` of every connection heard from since the last flush; returns
    /// how many. On failure the connections are noted again for the next round.
    pub async fn flush(&self, db: &DatabaseConnection) -> usize {
        let batch: Vec<Uuid> = self.noted().drain().collect();
        if batch.is_empty() {
            return 0;
        }
        let ids: Vec<String> = batch.iter().map(Uuid::to_string).collect();
        match store::sessions::touch_many(db, &ids, store::now()).await {
            Ok(()) => batch.len(),
            Err(e) => {
                log::warn!("last_seen of {} sessions not recorded: {e}", batch.len());
                self.noted().extend(batch);
                0
            }
        }
    }

    /// Flushes every `interval` on the current runtime, for as long as the ledger exists.
    pub fn spawn_flusher(self: &Arc<Self>, db: DatabaseConnection, interval: Duration) {
        let ledger: Weak<SessionLedger> = Arc::downgrade(self);
        // On the tokio runtime itself, as the row writer: a flush cut off at shutdown is
        // dropped inside the runtime's context, which sqlx needs to hand its connection back.
        tokio::runtime::Handle::current().spawn(async move {
            let mut tick = tokio::time::interval(interval);
            // The first tick is immediate; nothing has been heard yet.
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ledger) = ledger.upgrade() else {
                    return;
                };
                ledger.flush(&db).await;
            }
        });
    }
}

/// One round of the row writer: the opened rows, then the closed ones (a connection that
/// opened and closed within the round has its row written and removed), then whoever waits
/// for an opened row is told.
async fn write_rows(db: &DatabaseConnection, round: Vec<Row>) {
    let mut opened = Vec::new();
    let mut told = Vec::new();
    let mut closed = Vec::new();
    for row in round {
        match row {
            Row::Opened {
                user_id,
                connection_id,
                at,
                written,
            } => {
                opened.push((user_id, connection_id.to_string(), at));
                told.push(written);
            }
            Row::Closed(connection_id) => closed.push(connection_id.to_string()),
        }
    }
    if !opened.is_empty() {
        if let Err(e) = store::sessions::open_many(db, &opened).await {
            log::warn!("{} session rows not written: {e}", opened.len());
        }
    }
    for written in told {
        let _ = written.send(true);
    }
    if !closed.is_empty() {
        if let Err(e) = store::sessions::close_many(db, &closed).await {
            log::warn!("{} session rows not removed: {e}", closed.len());
        }
    }
}
