//! Builds the wire views of stored messages, loading what a view needs in a fixed number of
//! batched queries (see [`render`]).

use std::collections::HashMap;
use std::sync::Arc;

use entity::{attachment, message, message_delivery, reaction, read_receipt, user};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, JoinType, Query, SelectStatement, UnionType,
    WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Select,
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
/// Six queries per [`chunks`] run of ids.
pub async fn message_views<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    let mut views = Vec::with_capacity(ids.len());
    for chunk in chunks(ids, 1) {
        let seed = Query::select()
            .column(message::Column::Id)
            .from(message::Entity)
            .and_where(message::Column::Id.is_in(chunk.iter().copied()))
            .to_owned();
        views.extend(render(db, seed, chunk).await?);
    }
    Ok(views)
}

/// Name of the recursive query holding the ids of every message a render needs.
const RENDERED: &str = "rendered";

/// Renders the messages `seed` selects (a query of one column of message ids), returned in
/// the order of `order` (ids `seed` did not select are skipped).
///
/// Six queries, whatever the number of messages and however deeply they quote each other: the
/// messages with everything they quote (one recursive query), their receipts, reactions,
/// attachments and deliveries, and the users all of those name. The set is given as SQL, so
/// no id list is bound and a page of any size costs the same number of queries; each query
/// evaluates the set again, so a caller rendering a set that can move (a page of history) runs
/// them in one snapshot.
pub async fn render<C: ConnectionTrait>(
    db: &C,
    seed: SelectStatement,
    order: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    let with = rendered_set(seed);

    let rows: HashMap<Uuid, message::Model> = over(
        message::Entity::find().filter(message::Column::Id.in_subquery(in_rendered())),
        &with,
    )
    .all(db)
    .await?
    .into_iter()
    .map(|m| (m.id, m))
    .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let receipts = over(
        read_receipt::Entity::find()
            .filter(read_receipt::Column::MessageId.in_subquery(in_rendered()))
            .order_by_asc(read_receipt::Column::ReadAt)
            .order_by_asc(read_receipt::Column::Id),
        &with,
    )
    .all(db)
    .await?;
    let reactions = over(
        reaction::Entity::find()
            .filter(reaction::Column::MessageId.in_subquery(in_rendered()))
            .order_by_asc(reaction::Column::CreatedAt)
            .order_by_asc(reaction::Column::Id),
        &with,
    )
    .all(db)
    .await?;
    let attachments = over(
        attachment::Entity::find()
            .filter(attachment::Column::MessageId.in_subquery(in_rendered()))
            .order_by_asc(attachment::Column::Position),
        &with,
    )
    .all(db)
    .await?;
    let deliveries = over(
        message_delivery::Entity::find()
            .filter(message_delivery::Column::MessageId.in_subquery(in_rendered()))
            .order_by_asc(message_delivery::Column::Id),
        &with,
    )
    .all(db)
    .await?;

    // Everyone the set names: senders, readers, reactors, acknowledgers.
    let mut people = named(message::Column::SenderId, message::Column::Id);
    people
        .union(
            UnionType::Distinct,
            named(
                read_receipt::Column::ReaderId,
                read_receipt::Column::MessageId,
            ),
        )
        .union(
            UnionType::Distinct,
            named(reaction::Column::UserId, reaction::Column::MessageId),
        )
        .union(
            UnionType::Distinct,
            named(
                message_delivery::Column::UserId,
                message_delivery::Column::MessageId,
            ),
        );
    let users: HashMap<i64, UserView> = over(
        user::Entity::find().filter(user::Column::Id.in_subquery(people)),
        &with,
    )
    .all(db)
    .await?
    .iter()
    .map(|u| (u.id, user_view(u)))
    .collect();

    let mut parts: HashMap<Uuid, Parts> = HashMap::new();
    for r in receipts {
        parts
            .entry(r.message_id)
            .or_default()
            .receipts
            .push(ReadReceiptView {
                reader: user_or_placeholder(&users, r.reader_id),
                read_at: Timestamp(r.read_at),
            });
    }
    for r in reactions {
        parts
            .entry(r.message_id)
            .or_default()
            .reactions
            .push(ReactionView {
                id: r.id,
                user: user_or_placeholder(&users, r.user_id),
                reaction_content: r.reaction_content,
                created_at: Timestamp(r.created_at),
            });
    }
    for a in attachments {
        parts
            .entry(a.message_id)
            .or_default()
            .attachments
            .push(AttachmentView {
                id: a.id,
                media_url: a.media_url,
                media_type: a.media_type,
                file_size: a.file_size,
                mime_type: a.mime_type,
                caption: a.caption,
                metadata: a.metadata,
            });
    }
    for d in deliveries {
        let name = user_or_placeholder(&users, d.user_id).username;
        parts
            .entry(d.message_id)
            .or_default()
            .delivered_to
            .push(name);
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

/// The users in `user_col` of the rows whose `message_col` is in the rendered set.
fn named<C: ColumnTrait>(user_col: C, message_col: C) -> SelectStatement {
    Query::select()
        .column(user_col)
        .from(user_col.entity_name())
        .and_where(Expr::col(message_col).in_subquery(in_rendered()))
        .to_owned()
}

/// `SELECT id FROM rendered`.
fn in_rendered() -> SelectStatement {
    Query::select()
        .column(Alias::new("id"))
        .from(Alias::new(RENDERED))
        .to_owned()
}

/// `select`, evaluated with the rendered set defined.
fn over<E: EntityTrait>(mut select: Select<E>, with: &WithClause) -> Select<E> {
    QueryTrait::query(&mut select).with_cte(with.clone());
    select
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
