//! Builds the wire views of stored messages, loading what a view needs in a fixed number of
//! batched queries (see [`render`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use entity::{attachment, message, message_delivery, reaction, read_receipt, user};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
    SimpleExpr, UnionType, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IdenStatic, QueryFilter,
    QuerySelect, QueryTrait, SelectA, SelectB, Statement, Value,
};
use uuid::Uuid;

use super::{chunks, StoreError};
use crate::protocol::server::{
    AttachmentView, MessageView, ReactionView, ReadReceiptView, RoomRef, UserView,
};
use crate::protocol::Timestamp;

pub fn user_view(u: &user::Model) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
    }
}

/// A user id whose row is gone (deleted between two queries) still renders, with the id.
pub fn user_or_placeholder(users: &HashMap<i64, UserView>, id: i64) -> UserView {
    users.get(&id).cloned().unwrap_or_else(|| UserView {
        id,
        username: String::new(),
        email: String::new(),
        first_name: String::new(),
        last_name: String::new(),
    })
}

/// Renders the messages `ids` (in that order; unknown ids are skipped) with their receipts,
/// reactions, attachments, deliveries and, recursively, the messages they reply to or forward.
/// Two queries per [`chunks`] run of ids, whose text is built once per backend ([`ById`]):
/// only the ids are bound at each call.
pub async fn message_views<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    let by_id = ById::of(db.get_database_backend());
    let mut views = Vec::with_capacity(ids.len());
    for chunk in chunks(ids, 1) {
        let (messages, parts) = by_id.statements(chunk);
        views.extend(run(db, messages, parts, chunk).await?);
    }
    Ok(views)
}

/// The two statements of a render whose seed is `id IN (<the ids>)`, as text split where the
/// ids' placeholders go. The ids are the statements' only values (the rest is SQL), so the
/// text of `n` ids is the text of one with that one placeholder replaced by `n`; building it
/// with sea-query at every call cost a reaction ~9 % of its instructions.
struct ById {
    backend: DbBackend,
    messages: (String, String),
    parts: (String, String),
}

impl ById {
    fn of(backend: DbBackend) -> &'static ById {
        static SQLITE: OnceLock<ById> = OnceLock::new();
        static POSTGRES: OnceLock<ById> = OnceLock::new();
        static MYSQL: OnceLock<ById> = OnceLock::new();
        let cell = match backend {
            DbBackend::Sqlite => &SQLITE,
            DbBackend::Postgres => &POSTGRES,
            _ => &MYSQL,
        };
        cell.get_or_init(|| {
            let (messages, parts) = statements(backend, seed_of(&[Uuid::nil()]));
            let placeholder = match backend {
                DbBackend::Postgres => "$1",
                _ => "?",
            };
            let split = |sql: String| {
                assert_eq!(sql.matches(placeholder).count(), 1, "{sql}");
                let at = sql.find(placeholder).unwrap_or_default();
                (
                    sql[..at].to_owned(),
                    sql[at + placeholder.len()..].to_owned(),
                )
            };
            ById {
                backend,
                messages: split(messages.sql),
                parts: split(parts.sql),
            }
        })
    }

    /// The messages and the parts statements of a render of `ids`.
    fn statements(&self, ids: &[Uuid]) -> (Statement, Statement) {
        let mut list = String::with_capacity(ids.len() * 4);
        for n in 1..=ids.len() {
            if n > 1 {
                list.push_str(", ");
            }
            match self.backend {
                DbBackend::Postgres => {
                    list.push('$');
                    list.push_str(&n.to_string());
                }
                _ => list.push('?'),
            }
        }
        let statement = |(before, after): &(String, String)| {
            Statement::from_sql_and_values(
                self.backend,
                [before.as_str(), &list, after].concat(),
                ids.iter().map(|id| Value::from(*id)),
            )
        };
        (statement(&self.messages), statement(&self.parts))
    }
}

/// `SELECT id FROM messages WHERE id IN (<ids>)`.
fn seed_of(ids: &[Uuid]) -> SelectStatement {
    Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::Id.is_in(ids.iter().copied()))
        .to_owned()
}

/// Name of the recursive query holding the ids of every message a render needs.
const RENDERED: &str = "rendered";

/// Renders the messages `seed` selects (a query of one column of message ids), returned in
/// the order of `order` (ids `seed` did not select are skipped).
///
/// Two queries, whatever the number of messages and however deeply they quote each other:
/// the messages with everything they quote (one recursive query) joined to their senders,
/// then their receipts, reactions, attachments and deliveries joined to the users they name,
/// as one `UNION ALL`. Each statement is a round trip to the database (on SQLite, to its
/// connection's thread) and evaluates the set again, which is why the parts share one. The
/// set is given as SQL, so no id list is bound and a page of any size costs the same; a
/// caller rendering a set that can move (a page of history) runs both in one snapshot.
pub async fn render<C: ConnectionTrait>(
    db: &C,
    seed: SelectStatement,
    order: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    let (messages, parts) = statements(db.get_database_backend(), seed);
    run(db, messages, parts, order).await
}

/// The two statements of [`render`] for the set `seed` selects: the messages with their
/// senders, then their parts.
fn statements(backend: DbBackend, seed: SelectStatement) -> (Statement, Statement) {
    let with = rendered_set(seed);

    let sender = message::Entity::belongs_to(user::Entity)
        .from(message::Column::SenderId)
        .to(user::Column::Id)
        .into();
    let mut messages = message::Entity::find()
        .filter(message::Column::Id.in_subquery(in_rendered()))
        .select_also(user::Entity)
        .join(JoinType::LeftJoin, sender);
    QueryTrait::query(&mut messages).with_cte(with.clone());

    // The same for every render but for the set: built once, cloned with the set added.
    static PARTS: OnceLock<SelectStatement> = OnceLock::new();
    let mut parts = PARTS.get_or_init(parts_query).clone();
    parts.with_cte(with);
    (messages.build(backend), backend.build(&parts))
}

/// Runs the two statements of a render and builds the views of `order` from their rows.
async fn run<C: ConnectionTrait>(
    db: &C,
    messages: Statement,
    parts_statement: Statement,
    order: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    let mut users: HashMap<i64, UserView> = HashMap::new();
    let mut rows: HashMap<Uuid, message::Model> = HashMap::new();
    for row in db.query_all_raw(messages).await? {
        let m = message::Model::from_query_result(&row, SelectA.as_str())?;
        if let Some(u) = user::Model::from_query_result_optional(&row, SelectB.as_str())? {
            users.insert(u.id, user_view(&u));
        }
        rows.insert(m.id, m);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let mut parts: HashMap<Uuid, Parts> = HashMap::new();
    for row in PartRow::find_by_statement(parts_statement).all(db).await? {
        let part = parts.entry(row.message_id).or_default();
        match row.kind {
            RECEIPT => part.receipts.push(ReadReceiptView {
                reader: row.user(),
                read_at: Timestamp(row.at.ok_or_else(|| missing("read_at"))?),
            }),
            REACTION => part.reactions.push(ReactionView {
                id: row.id.ok_or_else(|| missing("reaction id"))?,
                user: row.user(),
                reaction_content: row.content.unwrap_or_default(),
                created_at: Timestamp(row.at.ok_or_else(|| missing("created_at"))?),
            }),
            ATTACHMENT => part.attachments.push(AttachmentView {
                id: row.id.ok_or_else(|| missing("attachment id"))?,
                media_url: row.media_url.unwrap_or_default(),
                media_type: row.media_type.unwrap_or_default(),
                file_size: row.file_size.unwrap_or_default(),
                mime_type: row.mime_type.unwrap_or_default(),
                caption: row.caption,
                metadata: row.metadata.unwrap_or_default(),
            }),
            DELIVERY => part.delivered_to.push(row.username.unwrap_or_default()),
            other => return Err(StoreError::Corrupt(format!("unknown part kind {other}"))),
        }
    }

    let builder = Builder {
        rows: &rows,
        parts: &parts,
        users: &users,
    };
    let mut memo = HashMap::new();
    Ok(order
        .iter()
        .filter_map(|id| builder.build(*id, &mut memo))
        .collect())
}

fn missing(column: &str) -> StoreError {
    StoreError::Corrupt(format!("a rendered part without its {column}"))
}

/// The kinds of [`PartRow`], in the order the parts query returns them.
const RECEIPT: i32 = 0;
const REACTION: i32 = 1;
const ATTACHMENT: i32 = 2;
const DELIVERY: i32 = 3;

/// A row of the parts query: one receipt, reaction, attachment or delivery of a rendered
/// message, with the user it names (`None` where the part names none or the user row is
/// gone). Columns a kind does not have are NULL.
#[derive(Debug, FromQueryResult)]
struct PartRow {
    kind: i32,
    message_id: Uuid,
    /// `read_at` of a receipt, `created_at` of a reaction.
    at: Option<DateTime<Utc>>,
    id: Option<Uuid>,
    user_id: Option<i64>,
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    content: Option<String>,
    media_url: Option<String>,
    media_type: Option<String>,
    file_size: Option<i64>,
    mime_type: Option<String>,
    caption: Option<String>,
    metadata: Option<serde_json::Value>,
}

impl PartRow {
    /// The user the part names; a user id whose row is gone renders with the id only, as
    /// [`user_or_placeholder`] does.
    fn user(&self) -> UserView {
        UserView {
            id: self.user_id.unwrap_or_default(),
            username: self.username.clone().unwrap_or_default(),
            email: self.email.clone().unwrap_or_default(),
            first_name: self.first_name.clone().unwrap_or_default(),
            last_name: self.last_name.clone().unwrap_or_default(),
        }
    }
}

/// The columns of [`PartRow`] after `kind`, and the NULL an arm without the column selects
/// in its place. PostgreSQL resolves a `UNION` pairwise, so an untyped NULL in the first two
/// arms would be taken for `text`: each NULL is cast to the column's PostgreSQL type (SQLite
/// accepts any type name in a `CAST`, and NULL stays NULL). `n` (an attachment's `position`,
/// a delivery's `id`) is there only to be ordered by.
const PART_COLUMNS: [(&str, &str); 16] = [
    ("message_id", "CAST(NULL AS uuid)"),
    ("at", "CAST(NULL AS timestamptz)"),
    ("n", "CAST(NULL AS bigint)"),
    ("id", "CAST(NULL AS uuid)"),
    ("user_id", "CAST(NULL AS bigint)"),
    ("username", "CAST(NULL AS text)"),
    ("email", "CAST(NULL AS text)"),
    ("first_name", "CAST(NULL AS text)"),
    ("last_name", "CAST(NULL AS text)"),
    ("content", "CAST(NULL AS text)"),
    ("media_url", "CAST(NULL AS text)"),
    ("media_type", "CAST(NULL AS text)"),
    ("file_size", "CAST(NULL AS bigint)"),
    ("mime_type", "CAST(NULL AS text)"),
    ("caption", "CAST(NULL AS text)"),
    ("metadata", "CAST(NULL AS json)"),
];

/// `SELECT … FROM <the four parts> ORDER BY kind, at, n, id`: each kind in the order the
/// views list it (receipts and reactions by time then id, attachments by position,
/// deliveries by id), for the messages of the rendered set.
fn parts_query() -> SelectStatement {
    use attachment::Column as A;
    use message_delivery::Column as D;
    use reaction::Column as R;
    use read_receipt::Column as C;
    let mut query = arm(
        RECEIPT,
        C::MessageId,
        Some(C::ReaderId),
        vec![("at", qualified(C::ReadAt)), ("id", qualified(C::Id))],
    );
    query
        .union(
            UnionType::All,
            arm(
                REACTION,
                R::MessageId,
                Some(R::UserId),
                vec![
                    ("at", qualified(R::CreatedAt)),
                    ("id", qualified(R::Id)),
                    ("content", qualified(R::ReactionContent)),
                ],
            ),
        )
        .union(
            UnionType::All,
            arm(
                ATTACHMENT,
                A::MessageId,
                None,
                vec![
                    ("n", qualified(A::Position)),
                    ("id", qualified(A::Id)),
                    ("media_url", qualified(A::MediaUrl)),
                    ("media_type", qualified(A::MediaType)),
                    ("file_size", qualified(A::FileSize)),
                    ("mime_type", qualified(A::MimeType)),
                    ("caption", qualified(A::Caption)),
                    ("metadata", qualified(A::Metadata)),
                ],
            ),
        )
        .union(
            UnionType::All,
            arm(
                DELIVERY,
                D::MessageId,
                Some(D::UserId),
                vec![("n", qualified(D::Id))],
            ),
        );
    for column in ["kind", "at", "n", "id"] {
        query.order_by(Alias::new(column), Order::Asc);
    }
    query
}

/// One arm of [`parts_query`]: the rows of `message_col`'s table whose message is in the
/// rendered set, `columns` under their names, the user `user_col` names (LEFT JOIN: a
/// missing user still renders), NULL for the rest.
fn arm<C: ColumnTrait>(
    kind: i32,
    message_col: C,
    user_col: Option<C>,
    columns: Vec<(&str, SimpleExpr)>,
) -> SelectStatement {
    let mut columns: HashMap<&str, SimpleExpr> = columns.into_iter().collect();
    columns.insert("message_id", qualified(message_col));
    if let Some(user_col) = user_col {
        columns.insert("user_id", qualified(user_col));
        for (name, col) in [
            ("username", user::Column::Username),
            ("email", user::Column::Email),
            ("first_name", user::Column::FirstName),
            ("last_name", user::Column::LastName),
        ] {
            columns.insert(name, qualified(col));
        }
    }
    let mut select = Query::select();
    select
        .expr_as(Expr::cust(kind.to_string()), Alias::new("kind"))
        .from(message_col.entity_name());
    for (name, null) in PART_COLUMNS {
        let expr = columns.remove(name).unwrap_or_else(|| Expr::cust(null));
        select.expr_as(expr, Alias::new(name));
    }
    if let Some(user_col) = user_col {
        select.join(
            JoinType::LeftJoin,
            user::Entity,
            Expr::col((user::Entity, user::Column::Id)).equals((user_col.entity_name(), user_col)),
        );
    }
    select
        .and_where(qualified(message_col).in_subquery(in_rendered()))
        .to_owned()
}

/// `table.column`: the arms join `users`, which has an `id` too.
fn qualified<C: ColumnTrait>(column: C) -> SimpleExpr {
    Expr::col((column.entity_name(), column))
}

/// `SELECT id FROM rendered`.
fn in_rendered() -> SelectStatement {
    Query::select()
        .column(Alias::new("id"))
        .from(Alias::new(RENDERED))
        .to_owned()
}

/// `WITH RECURSIVE rendered(id)`: the seed's messages and, transitively, every message they
/// reply to or forward. Quotes only ever point at older messages, so the recursion ends; the
/// `UNION` (not `UNION ALL`) would end it on a cycle too.
fn rendered_set(seed: SelectStatement) -> WithClause {
    let (m, q, r) = (Alias::new("m"), Alias::new("q"), Alias::new("r"));
    // The seed goes inside `IN (…)`: a seed with its own ORDER BY/LIMIT (a page) cannot be
    // the first arm of a UNION directly.
    let mut set = Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::Id.in_subquery(seed))
        .to_owned();
    let quoted = Query::select()
        .column((q.clone(), message::Column::Id))
        .from_as(Alias::new(RENDERED), r.clone())
        .join_as(
            JoinType::InnerJoin,
            message::Entity,
            m.clone(),
            Expr::col((m.clone(), message::Column::Id)).equals((r, Alias::new("id"))),
        )
        .join_as(
            JoinType::InnerJoin,
            message::Entity,
            q.clone(),
            Expr::col((q.clone(), message::Column::Id))
                .equals((m.clone(), message::Column::ParentMessageId))
                .or(Expr::col((q, message::Column::Id))
                    .equals((m, message::Column::ForwardedFromId))),
        )
        .to_owned();
    set.union(UnionType::Distinct, quoted);
    WithClause::new()
        .recursive(true)
        .cte(
            CommonTableExpression::new()
                .query(set)
                .column(Alias::new("id"))
                .table_name(Alias::new(RENDERED))
                .to_owned(),
        )
        .to_owned()
}

#[derive(Default)]
struct Parts {
    receipts: Vec<ReadReceiptView>,
    reactions: Vec<ReactionView>,
    attachments: Vec<AttachmentView>,
    delivered_to: Vec<String>,
}

struct Builder<'a> {
    rows: &'a HashMap<Uuid, message::Model>,
    parts: &'a HashMap<Uuid, Parts>,
    users: &'a HashMap<i64, UserView>,
}

impl Builder<'_> {
    fn build(&self, id: Uuid, memo: &mut HashMap<Uuid, MessageView>) -> Option<MessageView> {
        if let Some(done) = memo.get(&id) {
            return Some(done.clone());
        }
        let m = self.rows.get(&id)?;
        let parent_message = m
            .parent_message_id
            .and_then(|p| self.build(p, memo))
            .map(Box::new);
        let forwarded_from = m
            .forwarded_from_id
            .and_then(|f| self.build(f, memo))
            .map(Box::new);
        let parts = self.parts.get(&id);
        // A soft-deleted message shows no content and no attachments wherever it is rendered
        // (DECISIONS 25).
        let (content, attachments) = if m.is_deleted {
            (String::new(), Vec::new())
        } else {
            (
                m.content.clone(),
                parts.map(|p| p.attachments.clone()).unwrap_or_default(),
            )
        };
        let view = MessageView {
            id: m.id,
            room: RoomRef { id: m.room_id },
            sender: Arc::new(user_or_placeholder(self.users, m.sender_id)),
            read_receipts: parts.map(|p| p.receipts.clone()).unwrap_or_default(),
            reactions: parts.map(|p| p.reactions.clone()).unwrap_or_default(),
            attachments,
            parent_message,
            forwarded_from,
            delivered_to: parts.map(|p| p.delivered_to.clone()).unwrap_or_default(),
            content,
            is_deleted: m.is_deleted,
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
            is_forwarded: m.is_forwarded,
            is_edited: m.is_edited,
        };
        memo.insert(id, view.clone());
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text built once and the ids bound at each call are exactly the statements sea-query
    /// builds for the same ids, on both backends and for one id or several.
    #[test]
    fn statements_by_id_are_the_built_ones() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for n in [1, 2, 3, 11] {
                let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
                let built = statements(backend, seed_of(&ids));
                let cached = ById::of(backend).statements(&ids);
                assert_eq!(cached.0.sql, built.0.sql);
                assert_eq!(cached.0.values, built.0.values);
                assert_eq!(cached.1.sql, built.1.sql);
                assert_eq!(cached.1.values, built.1.values);
            }
        }
    }
}
