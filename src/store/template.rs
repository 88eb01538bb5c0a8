//! Statement text built once per shape, only the values bound at each call.
//!
//! sea-query renders a statement from its tree at every call, which for the statements of a
//! read receipt cost more instructions than SQLite spent running some of them. A statement
//! whose text depends only on the backend and the number of its arguments is built once per
//! (backend, number) with sentinel arguments; where each sentinel landed among the values
//! tells which argument each placeholder binds, and the other values are constants of the
//! statement itself.

use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseBackend, Statement, Value};
use uuid::Uuid;

/// The text of one shape and what each of its placeholders binds.
#[derive(Debug)]
pub struct Template {
    backend: DatabaseBackend,
    sql: String,
    slots: Vec<Slot>,
}

#[derive(Debug)]
enum Slot {
    Arg(usize),
    Const(Value),
}

impl Template {
    /// `built` is the statement built with `sentinels` as its arguments: values no constant
    /// of the statement equals, each different from the others.
    fn of(built: Statement, sentinels: &[Value]) -> Template {
        let values = built.values.map(|v| v.0).unwrap_or_default();
        let slots = values
            .into_iter()
            .map(|v| match sentinels.iter().position(|s| *s == v) {
                Some(k) => Slot::Arg(k),
                None => Slot::Const(v),
            })
            .collect();
        Template {
            backend: built.db_backend,
            sql: built.sql,
            slots,
        }
    }

    /// The statement with `args` (in the sentinels' order) bound.
    pub fn statement(&self, args: &[Value]) -> Statement {
        Statement::from_sql_and_values(
            self.backend,
            self.sql.clone(),
            self.slots.iter().map(|slot| match slot {
                Slot::Arg(k) => args[*k].clone(),
                Slot::Const(v) => v.clone(),
            }),
        )
    }
}

/// Most arguments of a shape [`Templates`] keeps.
pub const KEPT_UP_TO: usize = 32;

/// The templates of one statement, by backend and number of arguments. Only shapes of up to
/// [`KEPT_UP_TO`] arguments are kept: a client's bulk event may name any number of ids up to
/// the frame limit, and keeping a text per count would let one client grow this list (and the
/// scan of it) by a shape per count it sends; larger ones are built at each call.
#[derive(Default)]
pub struct Templates(Mutex<Vec<(DatabaseBackend, usize, Arc<Template>)>>);

impl Templates {
    pub const fn new() -> Templates {
        Templates(Mutex::new(Vec::new()))
    }

    /// The template for `backend` and `n` arguments; `make`, called the first time, builds the
    /// statement with sentinel arguments and returns it with them.
    pub fn get(
        &self,
        backend: DatabaseBackend,
        n: usize,
        make: impl FnOnce() -> (Statement, Vec<Value>),
    ) -> Arc<Template> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, t)) = all.iter().find(|(b, m, _)| *b == backend && *m == n) {
            return t.clone();
        }
        let (built, sentinels) = make();
        let template = Arc::new(Template::of(built, &sentinels));
        if n <= KEPT_UP_TO {
            all.push((backend, n, template.clone()));
        }
        template
    }

    /// The statement `build` makes of `ids` (and of `user`, a statement's one other argument
    /// if it has one), from the text built once per backend and number of ids: `build` runs
    /// with sentinels the first time only (with a sentinel for `user` even when there is none,
    /// which it then ignores).
    pub fn for_ids(
        &self,
        backend: DatabaseBackend,
        ids: &[Uuid],
        user: Option<i64>,
        build: impl FnOnce(&[Uuid], i64) -> Statement,
    ) -> Statement {
        let args = |ids: &[Uuid], user: Option<i64>| -> Vec<Value> {
            ids.iter()
                .map(|id| Value::from(*id))
                .chain(user.map(Value::from))
                .collect()
        };
        let template = self.get(backend, ids.len(), || {
            let sentinel_ids: Vec<Uuid> = (1..=ids.len() as u128).map(Uuid::from_u128).collect();
            let sentinel_user = i64::MIN + 1;
            let built = build(&sentinel_ids, sentinel_user);
            (built, args(&sentinel_ids, user.map(|_| sentinel_user)))
        });
        template.statement(&args(ids, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn shape(n: usize) -> (Statement, Vec<Value>) {
        let args: Vec<Value> = (0..n as i64).map(|k| Value::from(i64::MIN + k)).collect();
        let marks = vec!["?"; n].join(", ");
        let sql = format!("SELECT 1 WHERE x IN ({marks}) AND y = ?");
        let mut values = args.clone();
        values.push(Value::from(7_i64));
        (
            Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values),
            args,
        )
    }

    /// Small shapes are built once; a shape above the limit is built at each call, and both
    /// bind the call's arguments and keep the statement's own constants.
    #[test]
    fn only_small_shapes_are_kept_and_every_shape_binds_its_arguments() {
        let templates = Templates::new();
        for n in [1, KEPT_UP_TO, KEPT_UP_TO + 1] {
            let built = Cell::new(0);
            for _ in 0..3 {
                let template = templates.get(DatabaseBackend::Sqlite, n, || {
                    built.set(built.get() + 1);
                    shape(n)
                });
                let args: Vec<Value> = (0..n as i64).map(Value::from).collect();
                let statement = template.statement(&args);
                let mut expected = args.clone();
                expected.push(Value::from(7_i64));
                assert_eq!(statement.values.map(|v| v.0), Some(expected));
            }
            assert_eq!(built.get(), if n <= KEPT_UP_TO { 1 } else { 3 }, "n = {n}");
        }
    }
}
