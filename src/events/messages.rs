//! `message.send` and `message.acknowledged`.

use std::collections::HashMap;

use uuid::Uuid;

use super::{internal, Caller};
use crate::protocol::client::{parse_send_body, FieldErrors, MessageSend, SendTarget};
use crate::protocol::errors::{denied, ChatError};
use crate::protocol::server::{event, routed, Frame, MessageView};
use crate::protocol::Timestamp;
use crate::rooms::messages::{CanPost, Fanout};
use crate::sanitize::{sanitize, SafeHtml};
use crate::startup::AppState;
use crate::store::messages::NewMessage;
use crate::store::{self, render::user_view};

pub async fn send(
    app: &AppState,
    caller: &Caller,
    req: MessageSend,
) -> Result<Option<Frame>, ChatError> {
    // 1. Which room, then may the caller post there (messages.md §7.2).
    let room_id = match &req.target {
        SendTarget::Room(id) => *id,
        SendTarget::ViaMessage { message_id, .. } => {
            store::messages::find_many(&app.db, &[*message_id])
                .await?
                .first()
                .map(|m| m.room_id)
                .ok_or(ChatError::NotFound)?
        }
    };
    let room = app.rooms.get(room_id).await?.ok_or(ChatError::NotFound)?;
    let may_post = room
        .send(CanPost {
            user_id: caller.user.id,
        })
        .await
        .map_err(|e| internal("room actor", e))?;
    if !may_post {
        return Err(ChatError::PermissionDenied(denied::SEND_MESSAGE));
    }

    // 2. The body, all field errors together (§7.8 rows 6–11).
    let mut errors = FieldErrors::default();
    let body = parse_send_body(
        &req.data,
        app.settings.limits.max_content_chars,
        &mut errors,
    )?;
    if let SendTarget::ViaMessage {
        room_id_key_present,
        ..
    } = req.target
    {
        return Err(if room_id_key_present {
            ChatError::field("room_id", "This field may not be null.")
        } else {
            ChatError::Internal
        });
    }
    let quoted: Vec<(&str, Uuid)> = [
        ("parent_message_id", body.parent_message_id),
        ("forwarded_from_id", body.forwarded_from_id),
    ]
    .into_iter()
    .filter_map(|(field, id)| id.map(|id| (field, id)))
    .collect();
    let quoted_ids: Vec<Uuid> = quoted.iter().map(|(_, id)| *id).collect();
    let sources = store::messages::find_many(&app.db, &quoted_ids).await?;
    for (field, id) in &quoted {
        if !sources.iter().any(|m| m.id == *id) {
            errors.add(
                field,
                format!("Invalid pk \"{id}\" - object does not exist."),
            );
        }
    }
    errors.into_result()?;

    // 3. Reply and forward sources must be readable by the caller (DECISIONS 21) and alive
    //    (DECISIONS 25).
    if !sources.is_empty() {
        let source_rooms: Vec<Uuid> = sources.iter().map(|m| m.room_id).collect();
        let readable =
            store::rooms::rooms_of_user_among(&app.db, caller.user.id, &source_rooms).await?;
        if sources.iter().any(|m| !readable.contains(&m.room_id)) {
            return Err(ChatError::PermissionDenied(denied::ACCESS_MESSAGE));
        }
        if sources.iter().any(|m| m.is_deleted) {
            return Err(ChatError::rule("Message is deleted"));
        }
    }
    if body.is_forwarded && body.parent_message_id.is_some() {
        // The schema's reply-xor-forward check would refuse it; refuse before writing.
        return Err(ChatError::Integrity);
    }

    // 4. Store (durably), then tell the room.
    let content = if body.media.is_empty() {
        sanitize(&body.content)
    } else {
        SafeHtml::literal("Media Files")
    };
    let plain = quoted.is_empty() && body.media.is_empty();
    let notification_type =
        app.settings
            .notifications
            .enabled
            .then_some(if body.parent_message_id.is_some() {
                "REPLY"
            } else {
                "NEW_MESSAGE"
            });
    let stored = store::messages::create(
        &app.db,
        NewMessage {
            room_id,
            sender_id: caller.user.id,
            content,
            parent_message_id: body.parent_message_id,
            forwarded_from_id: body.forwarded_from_id,
            is_forwarded: body.is_forwarded,
            media: body.media,
            notification_type,
        },
    )
    .await?;
    let view = if plain {
        // Nothing to look up: a new plain message has no receipts, reactions or deliveries.
        MessageView::fresh(
            stored.id,
            room_id,
            user_view(&caller.user),
            stored.content,
            Timestamp(stored.created_at),
            stored.is_forwarded,
        )
    } else {
        store::render::message_views(&app.db, &[stored.id])
            .await?
            .pop()
            .ok_or_else(|| internal("message.send", "stored message not found"))?
    };
    room.send(Fanout {
        frame: routed(event::MESSAGE, &view),
    })
    .await
    .map_err(|e| internal("room actor", e))?;
    Ok(None)
}

pub async fn acknowledged(
    app: &AppState,
    caller: &Caller,
    message_ids: &[Uuid],
) -> Result<Option<Frame>, ChatError> {
    if message_ids.is_empty() {
        return Ok(None);
    }
    // The gate, id by id in request order: exists and not deleted, then readable.
    let found: HashMap<Uuid, _> = store::messages::find_many(&app.db, message_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let room_ids: Vec<Uuid> = found.values().map(|m| m.room_id).collect();
    let readable = store::rooms::rooms_of_user_among(&app.db, caller.user.id, &room_ids).await?;
    for id in message_ids {
        match found.get(id) {
            Some(m) if !m.is_deleted => {
                if !readable.contains(&m.room_id) {
                    return Err(ChatError::PermissionDenied(denied::ACCESS_MESSAGE));
                }
            }
            _ => return Err(ChatError::NotFound),
        }
    }

    store::messages::acknowledge(&app.db, caller.user.id, message_ids).await?;

    // One dispatch per original sender, to all of that sender's connections.
    let views = store::render::message_views(&app.db, message_ids).await?;
    let mut senders: Vec<i64> = Vec::new();
    let mut by_sender: HashMap<i64, Vec<MessageView>> = HashMap::new();
    for view in views {
        let sender = view.sender.id;
        if !by_sender.contains_key(&sender) {
            senders.push(sender);
        }
        by_sender.entry(sender).or_default().push(view);
    }
    for sender in senders {
        let views = by_sender.remove(&sender).unwrap_or_default();
        app.delivery
            .to_user(sender, &routed(event::MESSAGE_DELIVERED, &views));
    }
    Ok(None)
}
