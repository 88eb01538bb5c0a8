//! The statements of a message change (a reaction, a read receipt, a delivery receipt) run on
//! whichever connection the change's transaction is on: a sea-orm one (a pool transaction:
//! PostgreSQL, an in-memory SQLite database) or, on a SQLite file, the writer's own
//! connection ([`super::direct`]), called from the changing task's thread
//! ([`super::writer::Writer::transaction`]).
//!
//! Why: through sqlx each statement of such a change is a round trip to the pool connection's
//! worker thread (a channel send and a wake-up each way), `BEGIN` and `COMMIT` included, and
//! those hand-overs, not SQLite, were most of what a reaction cost (docs/performance.md, "What
//! a reaction, a read receipt and an acknowledgement cost"). The statements are the same on
//! both paths: sea-orm's builders render them for the backend, and [`Lite`] binds their values
//! as sqlx does ([`super::direct`]), so what one path writes the other reads back unchanged.

use std::future::Future;
use std::time::Instant;

use rusqlite::types::Value as LiteValue;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, QueryResult, Statement,
    StatementBuilder,
};
use uuid::Uuid;

use super::direct::{Bound, DirectError};
use super::{QueryObserver, StoreError};

/// Runs statements of a change; see the module's note.
pub trait Exec {
    fn backend(&self) -> DatabaseBackend;

    /// Runs `statement`; how many rows it changed.
    fn exec(&self, statement: Statement) -> impl Future<Output = Result<u64, StoreError>>;

    /// Runs `statement`; the rows it returned.
    fn rows(&self, statement: Statement) -> impl Future<Output = Result<Vec<Row>, StoreError>>;

    /// `statement` rendered for this connection's backend.
    fn build<S: StatementBuilder>(&self, statement: &S) -> Statement {
        statement.build(&self.backend())
    }

    /// Whether the schema's foreign keys are off for this transaction, so that its statements
    /// check the rows they reference, and remove the rows that would cascade, themselves
    /// ([`super::messages::References::Checked`]): only on the writer's own connection.
    fn checks_references(&self) -> bool {
        false
    }
}

impl<C: ConnectionTrait> Exec for C {
    fn backend(&self) -> DatabaseBackend {
        self.get_database_backend()
    }

    async fn exec(&self, statement: Statement) -> Result<u64, StoreError> {
        Ok(self.execute_raw(statement).await?.rows_affected())
    }

    async fn rows(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        Ok(self
            .query_all_raw(statement)
            .await?
            .into_iter()
            .map(Row::Orm)
            .collect())
    }
}

/// The writer's own SQLite connection inside a transaction begun on it; each statement is
/// prepared once and cached on the connection, and told to `observe` as one query.
pub struct Lite<'a> {
    pub(super) conn: &'a rusqlite::Connection,
    pub(super) observe: Option<&'a QueryObserver>,
    /// The transaction was begun with foreign keys off ([`Exec::checks_references`]).
    pub(super) checks_references: bool,
}

impl Lite<'_> {
    fn timed<T>(
        &self,
        sql: &str,
        run: impl FnOnce() -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = run();
        if let Some(observe) = self.observe {
            observe(sql, started.elapsed(), result.is_err());
        }
        result.map_err(|e| StoreError::from(DirectError::from(e)))
    }
}

impl Exec for Lite<'_> {
    fn backend(&self) -> DatabaseBackend {
        DatabaseBackend::Sqlite
    }

    fn checks_references(&self) -> bool {
        self.checks_references
    }

    async fn exec(&self, statement: Statement) -> Result<u64, StoreError> {
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        self.timed(&statement.sql, || {
            let mut prepared = self.conn.prepare_cached(&statement.sql)?;
            let changed = prepared.execute(rusqlite::params_from_iter(values.iter().map(Bound)))?;
            Ok(changed as u64)
        })
    }

    async fn rows(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        self.timed(&statement.sql, || {
            let mut prepared = self.conn.prepare_cached(&statement.sql)?;
            let columns = prepared.column_count();
            let mut rows = prepared.query(rusqlite::params_from_iter(values.iter().map(Bound)))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let cells = (0..columns)
                    .map(|i| row.get::<_, LiteValue>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Row::Lite(cells));
            }
            Ok(out)
        })
    }
}

/// A change's transaction: on the pool, or on the writer's own connection.
pub enum Tx<'a> {
    Pool(&'a DatabaseTransaction),
    Own(Lite<'a>),
}

impl Exec for Tx<'_> {
    fn backend(&self) -> DatabaseBackend {
        match self {
            Tx::Pool(txn) => txn.get_database_backend(),
            Tx::Own(lite) => lite.backend(),
        }
    }

    fn checks_references(&self) -> bool {
        match self {
            Tx::Pool(_) => false,
            Tx::Own(lite) => lite.checks_references,
        }
    }

    async fn exec(&self, statement: Statement) -> Result<u64, StoreError> {
        match self {
            Tx::Pool(txn) => Exec::exec(*txn, statement).await,
            Tx::Own(lite) => lite.exec(statement).await,
        }
    }

    async fn rows(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        match self {
            Tx::Pool(txn) => Exec::rows(*txn, statement).await,
            Tx::Own(lite) => lite.rows(statement).await,
        }
    }
}

/// One returned row, its columns by position.
pub enum Row {
    Orm(QueryResult),
    Lite(Vec<LiteValue>),
}

impl Row {
    pub fn uuid(&self, i: usize) -> Result<Uuid, StoreError> {
        match self {
            Row::Orm(row) => Ok(row.try_get_by_index(i)?),
            // As sqlx stores it: the 16 bytes.
            Row::Lite(cells) => match cells.get(i) {
                Some(LiteValue::Blob(bytes)) => Uuid::from_slice(bytes).map_err(corrupt),
                other => Err(corrupt(format!("column {i} is not a UUID: {other:?}"))),
            },
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self {
            Row::Orm(row) => Ok(row.try_get_by_index(i)?),
            Row::Lite(cells) => match cells.get(i) {
                Some(LiteValue::Integer(n)) => Ok(*n),
                other => Err(corrupt(format!("column {i} is not an integer: {other:?}"))),
            },
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self {
            Row::Orm(row) => Ok(row.try_get_by_index(i)?),
            Row::Lite(cells) => match cells.get(i) {
                Some(LiteValue::Text(text)) => Ok(text.clone()),
                other => Err(corrupt(format!("column {i} is not text: {other:?}"))),
            },
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// How a failure on the writer's own connection reaches the client: as the same failure
/// through sqlx would (a unique or check constraint 4005, a vanished reference 4004).
impl From<DirectError> for StoreError {
    fn from(err: DirectError) -> Self {
        let text = format!("the writer's SQLite connection: {err}");
        match &err {
            DirectError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                    StoreError::MissingReference(DbErr::Custom(text))
                } else {
                    StoreError::Constraint(DbErr::Custom(text))
                }
            }
            _ => StoreError::Db(DbErr::Custom(text)),
        }
    }
}
