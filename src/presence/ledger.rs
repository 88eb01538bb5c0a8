//! The session rows (messages.md §15, DECISIONS 10): one per open connection, written at
//! connect and removed at close by the connection itself; `last_seen` is refreshed here, in
//! batches. A heartbeat only notes its connection in memory; one task writes the `last_seen`
//! of every connection noted since its previous round, every
//! `sessions.last_seen_flush_interval`, in one statement per [`crate::store::chunks`] run. So
//! a heartbeat costs no database write, and `last_seen` lags by at most one interval (it is
//! internal: nothing on the wire shows it).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::store;

#[derive(Default)]
pub struct SessionLedger {
    /// Connections heard from since the last flush (ids, not their text: 16 bytes each and no
    /// allocation per heartbeat).
    heard: Mutex<HashSet<Uuid>>,
}

impl SessionLedger {
    /// `connection_id` sent a heartbeat: its `last_seen` is written at the next flush.
    pub fn heard(&self, connection_id: Uuid) {
        self.noted().insert(connection_id);
    }

    /// The connection closed: its row is being removed, nothing to flush for it.
    pub fn forget(&self, connection_id: Uuid) {
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
        actix_rt::spawn(async move {
            let mut tick = actix_rt::time::interval(interval);
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
