//! The writer's own SQLite connection: the writer's folded batches of plain messages
//! ([`super::writer`], [`super::script::Script::run_direct`]) run on it, SQLite called
//! directly from the writer's thread.
//!
//! Why: sqlx runs each SQLite connection on a worker thread of its own, so a batch on the pool's
//! connection is a hand-over to that thread and back for every statement of the batch
//! (`BEGIN`, the message, the room, the notification, the unread counts, `COMMIT`: sqlx
//! answers each), plus one as the connection returns to the pool: five or six wake-ups of the
//! writer's thread and as many of the worker's for one send at window 1. Here the batch is
//! one call on the writer's thread, with its statements prepared once and cached on the
//! connection (docs/performance.md, "The writer calls SQLite itself").
//!
//! One writer at a time: the pool's connection is held while a batch of this connection runs
//! ([`super::script::Script::run_direct`]), so no transaction of the pool overlaps one of this
//! connection. That matters beyond the wait: a deferred transaction of the pool that read
//! before it writes would fail at once (`SQLITE_BUSY`, without the busy timeout) had this
//! connection committed in between. The batch still begins `IMMEDIATE`, with a busy timeout,
//! should another process hold the database's write lock.
//!
//! Only on a SQLite file: an in-memory database is not shared between connections, and
//! PostgreSQL has no such hand-over; both keep [`super::script::Script::run_committed`]
//! (on PostgreSQL one statement a batch).

use std::path::PathBuf;
use std::time::Duration;

use chrono::SecondsFormat;
use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use sea_orm::Value;

use super::{is_sqlite, sqlite_file};
use crate::config::{DatabaseSettings, SqliteSynchronous};

#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The connection is not in the state the writer needs.
    #[error("{0}")]
    State(String),
}

/// The connection, and what it needs to open it again after a failure it could not undo.
pub struct Direct {
    /// `None` after a failure left it in a transaction it could not roll back (dropping it
    /// closes it, which makes SQLite roll back); opened again by the next batch.
    conn: Option<Connection>,
    path: PathBuf,
    synchronous: &'static str,
    busy: Duration,
    statement_cache: usize,
    wal_autocheckpoint: u32,
    /// The VFS that gathers the connection's WAL frames into a write a commit
    /// ([`super::wal_writes`]); `None`: SQLite's default.
    vfs: Option<&'static str>,
    /// Whether the connection checks foreign keys now. A batch whose statements check their
    /// references themselves runs with them off; every other with them on. The pragma is set
    /// only when a batch needs the other state: setting it expires the prepared statements.
    foreign_keys: bool,
}

impl Direct {
    /// Opens the writer's connection to the SQLite file of `settings`, with the pragmas of
    /// the pool's connection ([`super::connect`]); `None` for PostgreSQL or an in-memory
    /// database. Open it after [`super::migrate`]: the file must exist.
    pub fn open(settings: &DatabaseSettings) -> Result<Option<Direct>, DirectError> {
        let path = match sqlite_file(&settings.url) {
            Some(path) if is_sqlite(settings) => path,
            _ => return Ok(None),
        };
        let mut direct = Direct {
            conn: None,
            path,
            synchronous: match settings.sqlite_synchronous {
                SqliteSynchronous::Normal => "NORMAL",
                SqliteSynchronous::Full => "FULL",
            },
            busy: Duration::from_secs_f64(settings.sqlite_busy_timeout),
            statement_cache: settings.writer_statement_cache,
            wal_autocheckpoint: settings.sqlite_wal_autocheckpoint,
            vfs: super::wal_writes::vfs(settings.sqlite_wal_write_bytes),
            foreign_keys: true,
        };
        direct.connection()?;
        Ok(Some(direct))
    }

    /// The open connection, opening it first if a failure closed it.
    fn connection(&mut self) -> Result<&Connection, DirectError> {
        if self.conn.is_none() {
            // Read-write, never create: a file that vanished is an error, not a new database.
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = match self.vfs {
                Some(vfs) => Connection::open_with_flags_and_vfs(&self.path, flags, vfs)?,
                None => Connection::open_with_flags(&self.path, flags)?,
            };
            conn.busy_timeout(self.busy)?;
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(DirectError::State(format!(
                    "the database is in journal mode {mode}, not WAL"
                )));
            }
            conn.pragma_update(None, "synchronous", self.synchronous)?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            conn.pragma_update(None, "wal_autocheckpoint", self.wal_autocheckpoint)?;
            conn.set_prepared_statement_cache_capacity(self.statement_cache);
            self.foreign_keys = true;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    /// Runs `statements` in one transaction and commits it; on failure nothing of it stays
    /// written (rolled back, or the connection closed if it cannot be). With
    /// `checks_references` the statements check the rows they reference themselves and run
    /// with foreign keys off ([`super::script::Script::checking_references`]).
    ///
    /// It blocks the calling thread for the whole transaction (and for the busy timeout should
    /// another process hold the write lock): the writer's, which does nothing else meanwhile.
    pub(super) fn commit<'a>(
        &mut self,
        statements: impl IntoIterator<Item = (&'a str, &'a [Value])>,
        checks_references: bool,
    ) -> Result<(), DirectError> {
        self.foreign_keys(!checks_references)?;
        let conn = self.idle()?;
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let ran = statements
            .into_iter()
            .try_for_each(|(text, values)| {
                let mut statement = conn.prepare_cached(text)?;
                statement
                    .execute(rusqlite::params_from_iter(values.iter().map(Bound)))
                    .map(drop)
            })
            .and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(drop));
        if ran.is_err() {
            self.roll_back();
        }
        Ok(ran?)
    }

    /// Begins a transaction (`IMMEDIATE`) for statements the caller runs on the connection it
    /// returns and then ends with [`Direct::end`]; with `checks_references` its statements
    /// check the rows they reference themselves and it runs with foreign keys off, as the
    /// batches do, so that neither expires the other's prepared statements. A transaction
    /// never ended (its caller panicked or was dropped) is rolled back by the next `begin`.
    pub(super) fn begin(
        &mut self,
        checks_references: bool,
    ) -> Result<&rusqlite::Connection, DirectError> {
        self.idle()?;
        self.foreign_keys(!checks_references)?;
        let conn = self.connection()?;
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(conn)
    }

    /// The connection, outside any transaction: one left open (by a change that panicked
    /// halfway, [`Direct::begin`]) is rolled back first.
    fn idle(&mut self) -> Result<&Connection, DirectError> {
        if !self.connection()?.is_autocommit() {
            log::error!("the writer's connection was left in a transaction; rolling it back");
            self.roll_back();
        }
        self.connection()
    }

    /// Commits (`keep`) or rolls back the transaction [`Direct::begin`] began; on a failed
    /// commit nothing of it stays written.
    pub(super) fn end(&mut self, keep: bool) -> Result<(), DirectError> {
        let conn = self.connection()?;
        let ended = if keep {
            conn.prepare_cached("COMMIT")?.execute([]).map(drop)
        } else {
            Ok(())
        };
        if !keep || ended.is_err() {
            self.roll_back();
        }
        Ok(ended?)
    }

    /// Rolls back an open transaction; a connection that cannot is closed (SQLite then rolls
    /// back), and opened again by its next use.
    fn roll_back(&mut self) {
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        if conn.is_autocommit() {
            return;
        }
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            log::error!("cannot roll back on the writer's connection; closing it: {e}");
            self.conn = None;
        }
    }

    /// Turns foreign keys on or off, if they are not already: setting the pragma expires the
    /// prepared statements.
    fn foreign_keys(&mut self, foreign_keys: bool) -> Result<(), DirectError> {
        if self.foreign_keys != foreign_keys {
            let conn = self.connection()?;
            conn.pragma_update(
                None,
                "foreign_keys",
                if foreign_keys { "ON" } else { "OFF" },
            )?;
            let now: bool = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
            if now != foreign_keys {
                // Only inside a transaction does the pragma not take: a connection in one
                // is not trusted further.
                self.conn = None;
                return Err(DirectError::State(
                    "foreign_keys did not change on the writer's connection".into(),
                ));
            }
            self.foreign_keys = foreign_keys;
        }
        Ok(())
    }

    /// Closes the connection (at the writer's end), saying so if SQLite cannot.
    pub fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            if let Err((_, e)) = conn.close() {
                log::warn!("the writer's SQLite connection did not close cleanly: {e}");
            }
        }
    }
}

/// A value bound as sqlx binds it through sea-orm (`sea_query_sqlx`), so that what this
/// connection writes reads back the same through the pool: a UUID as its 16 bytes, a
/// timestamp as RFC 3339 text, a boolean as 0 or 1. A kind that neither the writer's
/// statements nor the message changes ([`super::exec`]) use is refused (a batch then runs
/// through the pool instead; a change fails).
pub(super) struct Bound<'a>(pub(super) &'a Value);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let integer = |i: Option<i64>| i.map(|i| ToSqlOutput::Owned(Owned::Integer(i)));
        let bound = match self.0 {
            Value::Bool(v) => integer(v.map(i64::from)),
            Value::TinyInt(v) => integer(v.map(i64::from)),
            Value::SmallInt(v) => integer(v.map(i64::from)),
            Value::Int(v) => integer(v.map(i64::from)),
            Value::BigInt(v) => integer(*v),
            Value::TinyUnsigned(v) => integer(v.map(i64::from)),
            Value::SmallUnsigned(v) => integer(v.map(i64::from)),
            Value::Unsigned(v) => integer(v.map(i64::from)),
            // A bound LIMIT (a hard delete's newest message left).
            Value::BigUnsigned(v) => match v.map(i64::try_from).transpose() {
                Ok(v) => integer(v),
                Err(e) => return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))),
            },
            Value::Double(v) => v.map(|d| ToSqlOutput::Owned(Owned::Real(d))),
            Value::String(v) => v
                .as_deref()
                .map(|s| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))),
            Value::Bytes(v) => v
                .as_deref()
                .map(|b| ToSqlOutput::Borrowed(ValueRef::Blob(b))),
            Value::Uuid(v) => v
                .as_ref()
                .map(|u| ToSqlOutput::Borrowed(ValueRef::Blob(u.as_bytes()))),
            Value::ChronoDateTimeUtc(v) => v.map(|t| {
                ToSqlOutput::Owned(Owned::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("the writer's connection does not bind {other:?}").into(),
                ))
            }
        };
        Ok(bound.unwrap_or(ToSqlOutput::Owned(Owned::Null)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    /// What sqlx would bind for the same values (`sqlx-sqlite`'s encoders).
    #[test]
    fn values_are_bound_as_sqlx_binds_them() {
        let conn = Connection::open_in_memory().expect("open");
        let id = Uuid::new_v4();
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        let values = [
            Value::from(id),
            Value::from(at),
            Value::from(true),
            Value::from(7_i64),
            Value::from("text"),
            Value::Uuid(None),
            Value::BigUnsigned(Some(1)),
        ];
        let row: (Vec<u8>, String, i64, i64, String, Option<Vec<u8>>, i64) = conn
            .query_row(
                "SELECT ?, ?, ?, ?, ?, ?, ?",
                rusqlite::params_from_iter(values.iter().map(Bound)),
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .expect("bound");
        assert_eq!(row.0, id.as_bytes().to_vec());
        assert_eq!(row.1, "2026-11-30T07:00:00.123456+00:00");
        assert_eq!((row.2, row.3, row.4.as_str(), row.5), (1, 7, "text", None));
        assert_eq!(row.6, 1);
    }
}
