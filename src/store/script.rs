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
//! query: there a script is [fused](Script::fused) into ONE statement, each statement but the
//! last a data-modifying `WITH` query of it, so that it too is one round trip to the server
//! (and one Parse where the text is new) instead of one (or two) per statement.
//!
//! [`Script::run_committed`] goes one step further for a script that is a whole transaction
//! (the writer's batch of plain messages): on SQLite `BEGIN`, the statements and `COMMIT` are
//! one query, on a connection held until the transaction has ended either way; on a SQLite
//! file the writer runs it on its own connection instead ([`Script::run_direct`]), without
//! sqlx's thread. On PostgreSQL the fused statement is a transaction by itself: no `BEGIN`
//! and no `COMMIT`, one round trip for the whole batch.
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
use sea_orm::sqlx::{self, pool::PoolConnection, postgres::PgConnection, Connection, Sqlite};
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
    /// How many values the statements before it in a fused script bind: its first placeholder
    /// is `$(before + 1)`.
    before: usize,
}

impl Sql {
    pub fn new(backend: DatabaseBackend, text: &str) -> Sql {
        Sql {
            backend,
            text: text.to_owned(),
            values: Vec::new(),
            before: 0,
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
                let _ = write!(self.text, "${}", self.before + self.values.len());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// `rows` as a table `v` for a `FROM`, its columns named `column1`, `column2`, … (what
    /// both databases call the columns of a `VALUES` list). On SQLite `(VALUES (?, …), …) AS v`.
    /// On PostgreSQL `json_to_recordset($n::json) AS v(column1 <type>, …)` with every row in
    /// ONE bound JSON text, `types` being the types sqlx gives the same values when it binds
    /// them: the statement's text then does not change with the number of rows, so PostgreSQL
    /// parses and plans it once per connection instead of once per batch, and sqlx keeps one
    /// prepared statement of a few parameters instead of one per shape, each holding the type
    /// of its thousands of parameters (docs/performance.md, "PostgreSQL today").
    pub fn table<const N: usize>(
        &mut self,
        rows: impl IntoIterator<Item = [Value; N]>,
        types: [&str; N],
    ) -> &mut Sql {
        if self.backend != DatabaseBackend::Postgres {
            return self.push("(VALUES ").rows(rows).push(") AS v");
        }
        let mut json = String::from("[");
        for (i, row) in rows.into_iter().enumerate() {
            json.push_str(if i == 0 { "{" } else { ",{" });
            for (j, value) in row.iter().enumerate() {
                let _ = write!(
                    json,
                    "{}\"column{}\":",
                    if j == 0 { "" } else { "," },
                    j + 1
                );
                json_value(&mut json, value);
            }
            json.push('}');
        }
        json.push(']');
        self.push("json_to_recordset(")
            .bind(json)
            .push("::json) AS v(");
        for (j, ty) in types.iter().enumerate() {
            let _ = write!(
                self.text,
                "{}column{} {ty}",
                if j == 0 { "" } else { ", " },
                j + 1
            );
        }
        self.push(")")
    }

    /// Binds `values` to the placeholders the text already holds, in order: a statement
    /// written for one row ([`Script::single_row`], SQLite's `?`).
    pub fn binds<const N: usize>(&mut self, values: [Value; N]) -> &mut Sql {
        self.values.extend(values);
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

/// `value` as JSON that PostgreSQL's input function for its type reads back as sqlx would
/// have bound it: numbers and booleans as such, timestamps in RFC 3339 with microseconds
/// (what is stored), NULL as `null`, the rest as strings.
fn json_value(json: &mut String, value: &Value) {
    match value {
        Value::Bool(Some(b)) => json.push_str(if *b { "true" } else { "false" }),
        Value::BigInt(Some(n)) => {
            let _ = write!(json, "{n}");
        }
        Value::Int(Some(n)) => {
            let _ = write!(json, "{n}");
        }
        Value::String(Some(text)) => {
            // A string always serialises; were it not to, the JSON left invalid fails the
            // statement, as a value that cannot be bound would.
            if let Ok(quoted) = serde_json::to_string(text) {
                json.push_str(&quoted);
            }
        }
        Value::Uuid(Some(id)) => {
            let _ = write!(json, "\"{}\"", id.hyphenated());
        }
        Value::ChronoDateTimeUtc(Some(at)) => {
            let _ = write!(
                json,
                "\"{}\"",
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }
        other if !other.is_some() => json.push_str("null"),
        other => {
            let text = sea_orm::sea_query::sea_value_to_json_value(other).to_string();
            json.push_str(&text);
        }
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

    /// Whether the statements run as ONE statement (PostgreSQL): every one but the last becomes
    /// a data-modifying `WITH` query of the last. They all see the database as it was before
    /// it, so a statement that reads rows an earlier one changed reads that one's `RETURNING`
    /// instead ([`Script::changed_by_last`]). Elsewhere each sees the changes of those before.
    pub fn fused(&self) -> bool {
        self.backend == DatabaseBackend::Postgres
    }

    /// Whether a statement of `rows` rows is written for one row, its values bound in place
    /// (`UPDATE … SET x = ? WHERE id = ?`), rather than reading them from a [`Sql::table`]:
    /// on SQLite, for one row. There SQLite copies a `FROM (VALUES …)` table into an ephemeral
    /// B-tree, and an `UPDATE … FROM` collects its rows in another, each a page allocated,
    /// zeroed and freed: more than the statement's own work on one row (docs/performance.md,
    /// "Fewer instructions a send"). PostgreSQL keeps the table, whose text does not change
    /// with the number of rows.
    pub fn single_row(&self, rows: usize) -> bool {
        rows == 1 && !self.fused()
    }

    /// What a statement added next reads as `table` to see the rows of `table` as the last
    /// statement so far left them: the table itself, or in a [fused](Script::fused) script
    /// that statement's `RETURNING` rows under the table's name (the statement must return
    /// every column read, and only the rows it changed are there).
    pub fn changed_by_last(&self, table: &str) -> String {
        match self.statements.len().checked_sub(1) {
            Some(last) if self.fused() => format!("{} AS {table}", part_name(last)),
            _ => table.to_owned(),
        }
    }

    /// A statement to add: text first, then [`Sql::bind`] and [`Sql::rows`] on it.
    pub fn statement(&mut self, text: &str) -> &mut Sql {
        let before = self.statements.iter().map(|sql| sql.values.len()).sum();
        let mut sql = Sql::new(self.backend, text);
        if self.fused() {
            sql.before = before;
        }
        self.statements.push(sql);
        let last = self.statements.len() - 1;
        &mut self.statements[last]
    }

    /// Runs every statement: on SQLite as one query (one round trip to sqlx's worker), on
    /// PostgreSQL as one [fused](Script::fused) statement (one round trip to the server). The
    /// first failure stops it; the caller's transaction then holds what the statements before
    /// it did (on SQLite), so the caller rolls back.
    pub async fn run<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let backend = self.backend;
        let (text, values) = match backend {
            DatabaseBackend::Postgres => self.fused_into_one(),
            _ => self.joined("", ""),
        };
        if !text.is_empty() {
            db.execute_raw(Statement::from_sql_and_values(backend, text, values))
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
    /// pool, which makes SQLite roll back what it held. On PostgreSQL: the [fused](Script::fused)
    /// statement alone, which commits or fails as a whole; sea-orm's metric callback times it.
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
        if self.fused() {
            // One statement is a transaction of its own: PostgreSQL commits it as it ends
            // (as durably as a COMMIT, by `synchronous_commit`), or undoes all of it.
            return self.run(db).await;
        }
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

    /// [`Script::run_committed`] on PostgreSQL, on a connection the writer keeps for itself
    /// (`own`; opened with the pool's options when there is none): the fused statement alone,
    /// a transaction by itself, one round trip. A connection of the pool would cost two more,
    /// sqlx's pings as it hands the connection out and as it takes it back. After any failure
    /// the connection is dropped (a statement's own error and a connection the server closed
    /// look alike from here: a backend ended by the server answers with an error first), and
    /// the next batch opens a new one; the batch that failed runs again through the pool, as
    /// any failed batch. `observe` is told of it as one query.
    pub async fn run_own(
        self,
        own: &mut Option<PgConnection>,
        db: &DatabaseConnection,
        observe: Option<&QueryObserver>,
    ) -> Result<(), DbErr> {
        let conn = match own {
            Some(conn) => conn,
            None => {
                let options = db.get_postgres_connection_pool().connect_options();
                let conn = PgConnection::connect_with(&options)
                    .await
                    .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
                own.insert(conn)
            }
        };
        let (text, values) = self.fused_into_one();
        let started = Instant::now();
        let ran = sqlx::query_with(
            sqlx::AssertSqlSafe(text.as_str()),
            SqlxValues(Values(values)),
        )
        .execute(&mut *conn)
        .await;
        if let Some(observe) = observe {
            observe(&text, started.elapsed(), ran.is_err());
        }
        match ran {
            Ok(_) => Ok(()),
            Err(e) => {
                *own = None;
                Err(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))))
            }
        }
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
        let held = Held::token(db).await?;
        let ran = self.run_direct_held(direct, observe);
        drop(held);
        ran
    }

    /// [`Script::run_direct`] while the caller holds the pool's connection ([`Held::token`]),
    /// on the calling thread without waiting for anything but SQLite (the writer's batches and
    /// its commit in a submitter's place, [`super::writer`], which keep the connection across
    /// commits).
    pub(super) fn run_direct_held(
        self,
        direct: &mut Direct,
        observe: Option<&QueryObserver>,
    ) -> Result<(), DbErr> {
        let started = Instant::now();
        let statements = self
            .statements
            .iter()
            .map(|sql| (sql.text.as_str(), sql.values.as_slice()));
        let result = direct
            .commit(statements, self.checks_references)
            .map_err(|e| DbErr::Custom(format!("the writer's SQLite connection: {e}")));
        let elapsed = started.elapsed();
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

    /// The statements as one: `WITH s0 AS (…), s1 AS (…) <the last>`, and their values in
    /// order (each statement's placeholders were numbered after those before it).
    fn fused_into_one(self) -> (String, Vec<Value>) {
        let mut statements = self.statements.into_iter();
        let Some(last) = statements.next_back() else {
            return (String::new(), Vec::new());
        };
        let mut text = String::new();
        let mut values = Vec::new();
        for (i, sql) in statements.enumerate() {
            let _ = write!(
                text,
                "{}{} AS (\n{}\n)",
                if i == 0 { "WITH " } else { ", " },
                part_name(i),
                sql.text
            );
            values.extend(sql.values);
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&last.text);
        values.extend(last.values);
        (text, values)
    }

    /// How many statements it holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Each statement's text and how many values it binds.
    #[cfg(test)]
    pub(super) fn shapes(&self) -> Vec<(&str, usize)> {
        self.statements
            .iter()
            .map(|sql| (sql.text.as_str(), sql.values.len()))
            .collect()
    }
}

/// The name of the `i`-th statement of a fused script, a `WITH` query of it.
fn part_name(i: usize) -> String {
    format!("s{i}")
}

/// What a [`Script::run_committed`] query starts with on SQLite.
const BEGIN: &str = "BEGIN;\n";

/// The same for a script [`Script::checking_references`].
const BEGIN_UNCHECKED: &str = "PRAGMA foreign_keys = OFF;\nBEGIN;\n";

/// The SQLite connection a [`Script::run_committed`] transaction runs on, held from the pool
/// until the transaction has ended (and its foreign keys are on again); closed on drop,
/// instead of returned, if it has not.
pub(super) struct Held {
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

    /// The connection held as a token, never used: it goes back to the pool as it came,
    /// whenever it is dropped. What keeps the pool's transactions from running beside one of
    /// the writer's own connection ([`super::direct`]).
    pub(super) async fn token(db: &DatabaseConnection) -> Result<Held, DbErr> {
        let mut held = Held::acquire(db).await?;
        held.ended = true;
        Ok(held)
    }

    /// [`Held::token`] if the connection is idle in the pool now; `None` rather than waiting
    /// for it (nor ahead of a task that waits for it: sqlx's pool is fair).
    pub(super) fn try_token(db: &DatabaseConnection) -> Option<Held> {
        let conn = db.get_sqlite_connection_pool().try_acquire()?;
        Some(Held { conn, ended: true })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fused_script_is_one_statement_numbering_its_placeholders_across_its_parts() {
        let mut script = Script::new(DatabaseBackend::Postgres);
        script
            .statement("INSERT INTO a VALUES ")
            .rows([[1i64.into(), 2i64.into()], [3i64.into(), 4i64.into()]]);
        let a = script.changed_by_last("a");
        script
            .statement("UPDATE b SET x = ")
            .bind(5i64)
            .push(" FROM ");
        let b = script.changed_by_last("b");
        script.statement("INSERT INTO c SELECT * FROM ").push(&b);
        assert_eq!(script.len(), 3);

        let (text, values) = script.fused_into_one();

        assert_eq!(a, "s0 AS a");
        assert_eq!(
            text,
            "WITH s0 AS (\nINSERT INTO a VALUES ($1, $2), ($3, $4)\n), \
             s1 AS (\nUPDATE b SET x = $5 FROM \n)\nINSERT INTO c SELECT * FROM s1 AS b"
        );
        assert_eq!(
            values,
            (1..=5).map(|v| Value::from(v as i64)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_table_is_one_json_text_on_postgresql_and_a_values_list_on_sqlite() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00.000001Z")
            .expect("a time")
            .with_timezone(&chrono::Utc);
        let rows = || {
            [[
                uuid::Uuid::nil().into(),
                7i64.into(),
                "a \"b\"\n\\ é".into(),
                at.into(),
                Option::<uuid::Uuid>::None.into(),
                true.into(),
            ]]
        };
        let types = ["uuid", "int8", "text", "timestamptz", "uuid", "boolean"];

        let mut pg = Sql::new(DatabaseBackend::Postgres, "SELECT * FROM ");
        pg.table(rows(), types)
            .push(" WHERE v.column2 = ")
            .bind(7i64);
        let mut lite = Sql::new(DatabaseBackend::Sqlite, "SELECT * FROM ");
        lite.table(rows(), types);

        assert_eq!(
            pg.text,
            "SELECT * FROM json_to_recordset($1::json) AS v(column1 uuid, column2 int8, \
             column3 text, column4 timestamptz, column5 uuid, column6 boolean) WHERE v.column2 = $2"
        );
        assert_eq!(
            pg.values[0],
            Value::from(
                "[{\"column1\":\"00000000-0000-0000-0000-000000000000\",\"column2\":7,\
                 \"column3\":\"a \\\"b\\\"\\n\\\\ é\",\"column4\":\"2026-11-30T12:00:00.000001Z\",\
                 \"column5\":null,\"column6\":true}]"
            )
        );
        assert_eq!(lite.text, "SELECT * FROM (VALUES (?, ?, ?, ?, ?, ?)) AS v");
        assert_eq!(lite.values.len(), 6);
    }

    #[test]
    fn a_sqlite_script_reads_the_tables_themselves() {
        let mut script = Script::new(DatabaseBackend::Sqlite);
        script.statement("UPDATE a SET x = ").bind(1i64);
        assert!(!script.fused());
        assert_eq!(script.changed_by_last("a"), "a");
        script.statement("UPDATE b SET y = ").bind(2i64);
        let (text, values) = script.joined("", "");
        assert_eq!(text, "UPDATE a SET x = ?;\nUPDATE b SET y = ?;\n");
        assert_eq!(values.len(), 2);
    }
}
