//! Hand-written statements for the writes that sea-orm's builders do not express (multi-row
//! `UPDATE … FROM (VALUES …)`, `INSERT … SELECT` from a list of values), and running several
//! statements as one.
//!
//! Why one: sqlx runs a SQLite connection on a worker thread of its own and every statement
//! is a round trip to it (a channel send, a wake-up, the answer back). On the box's few cores
//! that hand-over, not SQLite, is most of what a small write costs (docs/performance.md, "The
//! batched write path"). sqlx's SQLite driver accepts several `;`-separated statements in
//! one prepared query and binds the values across them in order, so a [`Script`] costs one
//! round trip whatever its length. PostgreSQL's extended protocol takes one statement per
//! query: there a script runs statement by statement.
//!
//! [`Script::run_committed`] goes one step further for a script that is a whole transaction
//! (the writer's batch of plain messages): on SQLite `BEGIN`, the statements and `COMMIT` are
//! one query, on a connection held until the transaction has ended either way; on a SQLite
//! file the writer runs it on its own connection instead ([`Script::run_direct`]), without
//! sqlx's thread.
//!
//! [`Script::checking_references`] is such a transaction whose statements check the rows they
//! reference themselves, so that SQLite runs it with foreign keys off: a multi-row statement
//! that may fail halfway (an immediate foreign key, a constraint that aborts the statement)
//! makes SQLite copy every page it is about to change into a statement journal first, so that
//! the statement alone can be undone; a whole transaction that is rolled back on any failure
//! needs none of that (docs/performance.md, "The statement journal of a batch").

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, pool::PoolConnection, Sqlite};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, RuntimeErr, Statement,
    TransactionTrait, Value,
};
use sea_query_sqlx::SqlxValues;

use super::direct::Direct;
use super::QueryObserver;

/// One statement: its text, with a placeholder per bound value written the way `backend`
/// wants it (`?` on SQLite, `$n` on PostgreSQL), and the values.
pub struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DatabaseBackend, text: &str) -> Sql {
        Sql {
            backend,
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// A placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => {
                let _ = write!(self.text, "${}", self.values.len());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// `(a, b, …), (c, d, …)`: one parenthesised row of placeholders per row.
    pub fn rows<const N: usize>(&mut self, rows: impl IntoIterator<Item = [Value; N]>) -> &mut Sql {
        for (i, row) in rows.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            for (j, value) in row.into_iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(value);
            }
            self.push(")");
        }
        self
    }
}

/// Statements that run in order in the caller's transaction.
pub struct Script {
    backend: DatabaseBackend,
    statements: Vec<Sql>,
    /// The statements check the rows they reference themselves and fail, as a whole, on the
    /// first thing wrong: see [`Script::checking_references`].
    checks_references: bool,
}

impl Script {
    pub fn new(backend: DatabaseBackend) -> Script {
        Script {
            backend,
            statements: Vec::new(),
            checks_references: false,
        }
    }

    /// A script for [`Script::run_committed`] only, whose statements are written to check the
    /// rows they reference themselves (a subquery that yields NULL for a missing row, into a
    /// NOT NULL column) and to stop at their first failing row (`OR FAIL`, [`Script::or_fail`]):
    /// on SQLite it runs with foreign keys off, and since any failure rolls the whole
    /// transaction back, no statement needs a statement journal. Elsewhere it is an ordinary
    /// script.
    pub fn checking_references(backend: DatabaseBackend) -> Script {
        Script {
            checks_references: backend == DatabaseBackend::Sqlite,
            ..Script::new(backend)
        }
    }

    /// Whether the statements must check the rows they reference ([`Script::checking_references`]).
    pub fn checks_references(&self) -> bool {
        self.checks_references
    }

    /// The conflict clause after `INSERT` or `UPDATE`: ` OR FAIL` in a script that checks its
    /// references (a failing row stops the statement and keeps the rows before it, which the
    /// rollback of the whole transaction undoes), none otherwise (the statement is undone
    /// alone, as the savepoints of the writer's fallback need).
    pub fn or_fail(&self) -> &'static str {
        if self.checks_references {
            " OR FAIL"
        } else {
            ""
        }
    }

    /// A statement to add: text first, then [`Sql::bind`] and [`Sql::rows`] on it.
    pub fn statement(&mut self, text: &str) -> &mut Sql {
        self.statements.push(Sql::new(self.backend, text));
        let last = self.statements.len() - 1;
        &mut self.statements[last]
    }

    /// Runs every statement: on SQLite as one query (one round trip to sqlx's worker), one by
    /// one elsewhere. The first failure stops it; the caller's transaction then holds what
    /// the statements before it did, so the caller rolls back.
    pub async fn run<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let backend = self.backend;
        if backend == DatabaseBackend::Sqlite {
            let (text, values) = self.joined("", "");
            if !text.is_empty() {
                db.execute_raw(Statement::from_sql_and_values(backend, text, values))
                    .await?;
            }
            return Ok(());
        }
        for sql in self.statements {
            db.execute_raw(Statement::from_sql_and_values(
                backend, sql.text, sql.values,
            ))
            .await?;
        }
        Ok(())
    }

    /// Runs every statement in a transaction of its own and commits it; on failure nothing
    /// stays written. `observe` is told of it as one query (its text without the `BEGIN`),
    /// as sea-orm's metric callback is told of a script run by [`Script::run`].
    ///
    /// On SQLite that is ONE query, `BEGIN; …; COMMIT`, where a transaction begun by sea-orm
    /// costs three round trips to sqlx's worker thread (`BEGIN`, the script, `COMMIT`). sqlx
    /// does not know of a transaction begun inside a query, so the connection is held from the
    /// pool for the whole of it: when a statement fails, the statements before it (the
    /// `BEGIN` among them) are rolled back here, on that same connection, before anybody else
    /// can be given it; a connection whose transaction could not be ended (a failed
    /// `ROLLBACK`, or this future dropped halfway) is closed instead of going back to the
    /// pool, which makes SQLite roll back what it held. Elsewhere: a transaction of sea-orm's,
    /// the statements one by one, and its commit.
    ///
    /// A script [`Script::checking_references`] turns SQLite's foreign keys off before its
    /// `BEGIN` (the pragma cannot change inside a transaction) and on again afterwards, in a
    /// query of its own whatever became of the transaction; a connection on which they cannot
    /// be turned on again is closed instead of going back to the pool.
    pub async fn run_committed(
        self,
        db: &DatabaseConnection,
        observe: Option<&QueryObserver>,
    ) -> Result<(), DbErr> {
        if self.backend != DatabaseBackend::Sqlite {
            let txn = db.begin().await?;
            // A failure drops `txn`, which rolls it back.
            self.run(&txn).await?;
            return txn.commit().await;
        }
        let unchecked = self.checks_references;
        let begin = if unchecked { BEGIN_UNCHECKED } else { BEGIN };
        let (text, values) = self.joined(begin, "COMMIT;\n");
        let started = Instant::now();
        let mut held = Held::acquire(db).await?;
        let ran = sqlx::query_with(
            sqlx::AssertSqlSafe(text.as_str()),
            SqlxValues(Values(values)),
        )
        .execute(&mut *held.conn)
        .await;
        let result = match ran {
            Ok(_) => {
                held.ended = true;
                Ok(())
            }
            Err(e) => {
                held.roll_back().await;
                Err(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))))
            }
        };
        if unchecked {
            held.check_references_again().await;
        }
        if let Some(observe) = observe {
            observe(&text[begin.len()..], started.elapsed(), result.is_err());
        }
        result
    }

    /// [`Script::run_committed`] on the writer's own SQLite connection ([`Direct`]): the
    /// transaction runs on the calling thread, its statements prepared once and cached there,
    /// instead of being handed statement by statement to sqlx's worker thread. The pool's
    /// connection is held meanwhile and not used: no transaction of the pool overlaps this
    /// one (see [`super::direct`]). `observe` is told of it as one query (its first statement).
    pub async fn run_direct(
        self,
        direct: &mut Direct,
        db: &DatabaseConnection,
        observe: Option<&QueryObserver>,
    ) -> Result<(), DbErr> {
        let mut held = Held::acquire(db).await?;
        // Untouched, it goes back to the pool as it came, once the transaction has ended.
        held.ended = true;
        let started = Instant::now();
        let statements = self
            .statements
            .iter()
            .map(|sql| (sql.text.as_str(), sql.values.as_slice()));
        let result = direct
            .commit(statements, self.checks_references)
            .map_err(|e| DbErr::Custom(format!("the writer's SQLite connection: {e}")));
        let elapsed = started.elapsed();
        drop(held);
        if let (Some(observe), Some(first)) = (observe, self.statements.first()) {
            observe(&first.text, elapsed, result.is_err());
        }
        result
    }

    /// The statements as one text, between `before` and `after`, and their values in order.
    fn joined(self, before: &str, after: &str) -> (String, Vec<Value>) {
        let mut text = String::from(before);
        let mut values = Vec::new();
        for sql in self.statements {
            text.push_str(&sql.text);
            text.push_str(";\n");
            values.extend(sql.values);
        }
        text.push_str(after);
        (text, values)
    }

    /// How many statements it holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

/// What a [`Script::run_committed`] query starts with on SQLite.
const BEGIN: &str = "BEGIN;\n";

/// The same for a script [`Script::checking_references`].
const BEGIN_UNCHECKED: &str = "PRAGMA foreign_keys = OFF;\nBEGIN;\n";

/// The SQLite connection a [`Script::run_committed`] transaction runs on, held from the pool
/// until the transaction has ended (and its foreign keys are on again); closed on drop,
/// instead of returned, if it has not.
struct Held {
    conn: PoolConnection<Sqlite>,
    /// No transaction of ours is open on `conn` (committed, or rolled back), and its foreign
    /// keys are on.
    ended: bool,
}

impl Held {
    async fn acquire(db: &DatabaseConnection) -> Result<Held, DbErr> {
        let conn = db
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        Ok(Held { conn, ended: false })
    }

    /// Ends what a failed query left open: the statements before the failing one ran inside
    /// its `BEGIN`. When the failure came before the `BEGIN` took effect, or was the `COMMIT`'s
    /// own after SQLite had already ended the transaction, there is nothing to roll back, and
    /// SQLite says so.
    async fn roll_back(&mut self) {
        match sqlx::raw_sql("ROLLBACK").execute(&mut *self.conn).await {
            Ok(_) => self.ended = true,
            Err(e) if e.to_string().contains("no transaction is active") => self.ended = true,
            Err(e) => log::error!("cannot roll back a failed batch; closing its connection: {e}"),
        }
    }

    /// Turns foreign keys on again after a transaction that ran with them off, whatever became
    /// of it; if that fails the connection is closed (a new one starts with them on).
    async fn check_references_again(&mut self) {
        // Not ended until they are on: dropped meanwhile, the connection is closed.
        let ended = std::mem::replace(&mut self.ended, false);
        match sqlx::raw_sql("PRAGMA foreign_keys = ON")
            .execute(&mut *self.conn)
            .await
        {
            Ok(_) => self.ended = ended,
            Err(e) => log::error!("cannot turn foreign keys on again; closing the connection: {e}"),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}
