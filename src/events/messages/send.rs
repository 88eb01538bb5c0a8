//! `message.send`: validate, then hand the message to its room's actor, which decides whether
//! the sender may post there, stores it durably and fans it out.
//!
//! The right to post (messages.md §7.2) is asked of the room's actor, and the actor answers it
//! as it queues the send ([`Post`]): a send that passes every check made here asks the actor
//! once. A send that fails one asks for the right first and answers a refusal before its own
//! error, since authorisation errors come before every other (§1.5, §7.8 row 5).

use std::time::Instant;

use uuid::Uuid;

use super::content::sanitized;
use super::gate::{authorize, message_rights, target_room};
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{parse_media, parse_send_body, FieldErrors, MessageSend, SendTarget};
use crate::protocol::errors::ChatError;
use crate::protocol::server::{Frame, MessageView};
use crate::rooms::actor::Committed;
use crate::rooms::messages::{Pipelined, Post, Queued};
use crate::rooms::room::Action;
use crate::sanitize::SafeHtml;
use crate::store;
use crate::store::messages::NewMessage;
use crate::store::notifications::NotificationKind;

/// A `message.send` that passed every check the asking side makes, ready for its room.
pub struct Prepared {
    room_id: Uuid,
    post: Post,
    received: Instant,
}

impl Prepared {
    pub fn room_id(&self) -> Uuid {
        self.room_id
    }
}

pub async fn send(
    app: &AppState,
    caller: &Caller,
    req: MessageSend,
) -> Result<Option<Frame>, ChatError> {
    let Prepared {
        room_id,
        post,
        received,
    } = prepare(app, caller, req).await?;
    let committed = app.rooms.call(room_id, post).await?;
    sent(app, received, committed)
}

/// Hands a prepared send to its room's actor, which queues it and answers at once: its
/// outcome arrives later, on the returned receiver (see [`Pipelined`]).
pub async fn queue(
    app: &AppState,
    caller: &Caller,
    prepared: Prepared,
) -> Result<(Queued, Instant), ChatError> {
    let Prepared {
        room_id,
        post,
        received,
    } = prepared;
    let connection_id = caller.connection_id;
    let queued = app
        .rooms
        .call(
            room_id,
            Pipelined {
                post,
                connection_id,
            },
        )
        .await??;
    Ok((queued, received))
}

/// A send's outcome, counted.
pub fn sent(
    app: &AppState,
    received: Instant,
    committed: Result<Committed<MessageView>, ChatError>,
) -> Result<Option<Frame>, ChatError> {
    let committed = committed?;
    app.metrics
        .message_sent(committed.at - received, received.elapsed());
    Ok(None)
}

/// Every check of a `message.send` made before its room's actor is asked to store it (see the
/// module's note for the right to post).
pub async fn prepare(
    app: &AppState,
    caller: &Caller,
    req: MessageSend,
) -> Result<Prepared, ChatError> {
    let received = Instant::now();
    // Which room (messages.md §7.2 steps 1–2).
    let room_id = target_room(app, &req.target).await?;
    match checked(app, caller, room_id, req).await {
        Ok(post) => Ok(Prepared {
            room_id,
            post,
            received,
        }),
        Err(err) => {
            // Refused to post there (step 3) wins over whatever the body got wrong.
            authorize(app, room_id, caller.user.id, Action::Post).await?;
            Err(err)
        }
    }
}

/// The checks after the right to post, in the order of messages.md §7.8 (rows 6–15), and the
/// [`Post`] they leave.
async fn checked(
    app: &AppState,
    caller: &Caller,
    room_id: Uuid,
    req: MessageSend,
) -> Result<Post, ChatError> {
    // 1. The body, all field errors together (§7.8 rows 6–11).
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
    let sources = store::messages::find_many(&app.reader, &quoted_ids).await?;
    for (field, id) in &quoted {
        if !sources.iter().any(|m| m.id == *id) {
            errors.add(
                field,
                format!("Invalid pk \"{id}\" - object does not exist."),
            );
        }
    }
    errors.into_result()?;

    // 2. Reply and forward sources must be readable by the caller — asked of their rooms'
    //    actors (DECISIONS 21) — and alive (DECISIONS 25).
    let rights = message_rights(app, caller.user.id, sources.iter().map(|m| m.room_id)).await?;
    for source in &sources {
        if let Some(Err(denied)) = rights.get(&source.room_id) {
            return Err(denied.clone());
        }
    }
    if sources.iter().any(|m| m.is_deleted) {
        return Err(ChatError::rule("Message is deleted"));
    }
    if body.is_forwarded && body.parent_message_id.is_some() {
        // The schema's reply-xor-forward check would refuse it; refuse before writing.
        return Err(ChatError::Integrity);
    }
    // 3. Media items last (§7.8 rows 13–14), all of them before anything is written.
    let media = parse_media(&body.media)?;

    // 4. Sanitise; the room's actor stores it (durably), then tells the room.
    let content = if media.is_empty() {
        sanitized(&body.content, app.settings.limits.max_content_chars)?
    } else {
        SafeHtml::literal("Media Files")
    };
    let notification_type =
        app.settings
            .notifications
            .enabled
            .then_some(if body.parent_message_id.is_some() {
                NotificationKind::Reply
            } else {
                NotificationKind::NewMessage
            });
    Ok(Post {
        message: NewMessage {
            room_id,
            sender_id: caller.user.id,
            content,
            parent_message_id: body.parent_message_id,
            forwarded_from_id: body.forwarded_from_id,
            is_forwarded: body.is_forwarded,
            media,
            notification_type,
        },
        sender: caller.user.clone(),
    })
}
