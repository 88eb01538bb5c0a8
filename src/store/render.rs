//! Builds the wire views of stored rows, loading what a view needs in a few batched queries.

use std::collections::{HashMap, HashSet};

use entity::{attachment, message, message_delivery, reaction, read_receipt, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{users, StoreError};
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
pub async fn message_views<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<MessageView>, StoreError> {
    // Load the messages and every message they quote, level by level.
    let mut rows: HashMap<Uuid, message::Model> = HashMap::new();
    let mut wanted: Vec<Uuid> = ids.to_vec();
    while !wanted.is_empty() {
        let found = message::Entity::find()
            .filter(message::Column::Id.is_in(wanted.iter().copied()))
            .all(db)
            .await?;
        wanted.clear();
        for m in &found {
            for quoted in [m.parent_message_id, m.forwarded_from_id]
                .into_iter()
                .flatten()
            {
                if !rows.contains_key(&quoted) && !wanted.contains(&quoted) {
                    wanted.push(quoted);
                }
            }
        }
        for m in found {
            rows.insert(m.id, m);
        }
        wanted.retain(|id| !rows.contains_key(id));
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let all_ids: Vec<Uuid> = rows.keys().copied().collect();

    let receipts = read_receipt::Entity::find()
        .filter(read_receipt::Column::MessageId.is_in(all_ids.iter().copied()))
        .order_by_asc(read_receipt::Column::ReadAt)
        .order_by_asc(read_receipt::Column::Id)
        .all(db)
        .await?;
    let reactions = reaction::Entity::find()
        .filter(reaction::Column::MessageId.is_in(all_ids.iter().copied()))
        .order_by_asc(reaction::Column::CreatedAt)
        .order_by_asc(reaction::Column::Id)
        .all(db)
        .await?;
    let attachments = attachment::Entity::find()
        .filter(attachment::Column::MessageId.is_in(all_ids.iter().copied()))
        .order_by_asc(attachment::Column::Position)
        .all(db)
        .await?;
    let deliveries = message_delivery::Entity::find()
        .filter(message_delivery::Column::MessageId.is_in(all_ids.iter().copied()))
        .order_by_asc(message_delivery::Column::Id)
        .all(db)
        .await?;

    let mut user_ids: HashSet<i64> = rows.values().map(|m| m.sender_id).collect();
    user_ids.extend(receipts.iter().map(|r| r.reader_id));
    user_ids.extend(reactions.iter().map(|r| r.user_id));
    user_ids.extend(deliveries.iter().map(|d| d.user_id));
    let user_ids: Vec<i64> = user_ids.into_iter().collect();
    let users: HashMap<i64, UserView> = users::find_many(db, &user_ids)
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
    Ok(ids
        .iter()
        .filter_map(|id| builder.build(*id, &mut memo))
        .collect())
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
            sender: user_or_placeholder(self.users, m.sender_id),
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
