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

use std::fmt::Write;

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

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
}

impl Script {
    pub fn new(backend: DatabaseBackend) -> Script {
        Script {
            backend,
            statements: Vec::new(),
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
        if self.backend == DatabaseBackend::Sqlite {
            let mut text = String::new();
            let mut values = Vec::new();
            for sql in self.statements {
                text.push_str(&sql.text);
                text.push_str(";\n");
                values.extend(sql.values);
            }
            if !text.is_empty() {
                db.execute_raw(Statement::from_sql_and_values(self.backend, text, values))
                    .await?;
            }
            return Ok(());
        }
        for sql in self.statements {
            db.execute_raw(Statement::from_sql_and_values(
                self.backend,
                sql.text,
                sql.values,
            ))
            .await?;
        }
        Ok(())
    }

    /// How many statements it holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}
