//! `message.modify`: the author edits one message or deletes some of theirs (one room). The
//! gates run in the spec's order (messages.md §8.2, evaluated in request order — §18 item 17);
//! the change is checked and written while the room is lent to this event, so it cannot
//! overtake the author leaving, and its dispatch takes its place in the room's commit order.

use uuid::Uuid;

use super::content::sanitized;
use super::gate::{live_messages, still_live};
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{parse_edit, MessageModify, ModifyAction, NO_EDIT_CONTENT};
use crate::protocol::errors::{denied, ChatError};
use crate::protocol::server::{event, routed, Frame, MessageEdited, MessagesDeleted};
use crate::rooms::lease;
use crate::rooms::room::Action;
use crate::store;
use crate::store::messages::{Deletion, References};

pub async fn modify(
    app: &AppState,
    caller: &Caller,
    req: MessageModify,
) -> Result<Option<Frame>, ChatError> {
    let room_id = authored_room(app, caller.user.id, &req.ids).await?;

    // Membership, against the room's state as it stays while the room is lent.
    let lease = lease::borrow(&app.rooms, room_id).await?;
    lease
        .room()
        .authorize(caller.user.id, Action::UseMessages)?;
    let frame = match req.action {
        ModifyAction::Invalid => return Err(ChatError::rule("Invalid action type")),
        ModifyAction::Update => edit(app, &req).await?,
        ModifyAction::Delete => delete(app, room_id, &req).await?,
    };
    lease.give_back(vec![frame]).await;
    Ok(None)
}

/// The authorship gate (§8.2 step 1), id by id: each must be a live message (4004); they must
/// all be in one room (4003, judged over the messages checked so far, before authorship); and
/// each must be the caller's (4002). Returns that room.
async fn authored_room(app: &AppState, user_id: i64, ids: &[Uuid]) -> Result<Uuid, ChatError> {
    let found = live_messages(&app.reader, ids).await?;
    let mut room = None;
    for id in ids {
        let message = found.get(id).ok_or(ChatError::NotFound)?;
        match room {
            None => room = Some(message.room_id),
            Some(r) if r != message.room_id => {
                return Err(ChatError::rule(
                    "All messages marked for modification must come from the same room",
                ))
            }
            Some(_) => {}
        }
        if message.sender_id != user_id {
            return Err(ChatError::PermissionDenied(denied::MODIFY_MESSAGE));
        }
    }
    // The decoder refuses an empty list, so there is a room here.
    room.ok_or(ChatError::NotFound)
}

/// §8.4: exactly one id; new content from `extra_fields.content` only (DECISIONS 20),
/// sanitised like a new message's; the full message goes to the room.
async fn edit(app: &AppState, req: &MessageModify) -> Result<Frame, ChatError> {
    // Counted as sent: the same id twice is still more than one.
    if req.echo.len() > 1 {
        return Err(ChatError::rule("You can only update one message at a time"));
    }
    let id = *req.ids.first().ok_or(ChatError::NotFound)?;
    let raw = parse_edit(
        req.extra_fields.as_ref(),
        app.settings.limits.max_content_chars,
    )?;
    let content = sanitized(&raw, app.settings.limits.max_content_chars)?;
    if content.as_str().is_empty() {
        return Err(ChatError::rule(NO_EDIT_CONTENT));
    }

    app.rooms
        .writer()
        // An edit writes no reference: it runs as the batches do, with foreign keys off.
        .transaction(References::Checked, async |txn| -> Result<(), ChatError> {
            still_live(txn, &[id]).await?;
            Ok(store::messages::edit(txn, id, content).await?)
        })
        .await?;

    let view = store::render::message_views(&app.reader, &[id])
        .await?
        .pop()
        .ok_or(ChatError::NotFound)?;
    Ok(routed(
        event::MESSAGE_MODIFICATION,
        &MessageEdited::new(view),
    ))
}

/// §8.3: hard or soft per `messages.soft_delete`, notifications gone either way; the ids are
/// echoed exactly as sent.
async fn delete(app: &AppState, room_id: Uuid, req: &MessageModify) -> Result<Frame, ChatError> {
    let how = if app.settings.messages.soft_delete {
        Deletion::Soft
    } else {
        Deletion::Hard
    };
    app.rooms
        .writer()
        // A hard delete leaves the rows below the messages to the keys' cascades.
        .transaction(
            References::ForeignKeys,
            async |txn| -> Result<(), ChatError> {
                still_live(txn, &req.ids).await?;
                Ok(store::messages::delete(txn, room_id, &req.ids, how).await?)
            },
        )
        .await?;
    Ok(routed(
        event::MESSAGE_MODIFICATION,
        &MessagesDeleted::new(req.echo.clone()),
    ))
}
