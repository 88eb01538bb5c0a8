//! Gates shared by the message events: which room a send or typing indicator is for, and the
//! per-message gate of `message.react`, `message.read` and `message.acknowledged` (every id
//! names a live message in a room the caller belongs to, checked id by id in request order;
//! the first failure answers).

use std::collections::HashMap;

use entity::message;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::app::AppState;
use crate::protocol::client::SendTarget;
use crate::protocol::errors::{denied, ChatError};
use crate::rooms::messages::Authorize;
use crate::rooms::room::Action;
use crate::store;
use crate::store::exec::Exec;

/// The messages among `ids` that exist and are not soft-deleted (a soft-deleted message is
/// gone for every message event, messages.md §8.3).
pub async fn live_messages<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, message::Model>, ChatError> {
    Ok(store::messages::find_many(db, ids)
        .await?
        .into_iter()
        .filter(|m| !m.is_deleted)
        .map(|m| (m.id, m))
        .collect())
}

/// Inside a change's transaction: every message it is about (`ids`, distinct) is still there
/// and live (a concurrent delete of the same messages lost the race, and answers 4004).
pub async fn still_live(txn: &impl Exec, ids: &[Uuid]) -> Result<(), ChatError> {
    if store::messages::all_live(txn, ids).await? {
        Ok(())
    } else {
        Err(ChatError::NotFound)
    }
}

/// The gate in request order: 4004 for an id that names no live message, else whatever
/// `may_use(room)` says about its room (4002 `User is not authorized to access this message`).
pub fn check_in_order(
    ids: &[Uuid],
    found: &HashMap<Uuid, message::Model>,
    may_use: impl Fn(Uuid) -> Result<(), ChatError>,
) -> Result<(), ChatError> {
    for id in ids {
        let message = found.get(id).ok_or(ChatError::NotFound)?;
        may_use(message.room_id)?;
    }
    Ok(())
}

/// Asks the room's actor whether `user_id` may do `action` there (4004 when there is no such
/// room).
pub async fn authorize(
    app: &AppState,
    room_id: Uuid,
    user_id: i64,
    action: Action,
) -> Result<(), ChatError> {
    app.rooms
        .call(room_id, Authorize { user_id, action })
        .await?
}

/// Asks each room's actor whether `user_id` may use its messages; the answer per room, for
/// [`check_in_order`] (rooms in first-appearance order, each asked once).
pub async fn message_rights(
    app: &AppState,
    user_id: i64,
    rooms: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Result<(), ChatError>>, ChatError> {
    let mut rights = HashMap::new();
    for room_id in rooms {
        if rights.contains_key(&room_id) {
            continue;
        }
        let answer = match authorize(app, room_id, user_id, Action::UseMessages).await {
            // Deleted since its message was found: not a room the caller can use.
            Err(ChatError::NotFound) => Err(ChatError::PermissionDenied(denied::ACCESS_MESSAGE)),
            answer => answer,
        };
        rights.insert(room_id, answer);
    }
    Ok(rights)
}

/// The room a `message.send` or `message.typing` is for: `room_id`, or the room of
/// `message_id` (soft-deleted messages count, messages.md §7.2 step 2).
pub async fn target_room(app: &AppState, target: &SendTarget) -> Result<Uuid, ChatError> {
    match target {
        SendTarget::Room(id) => Ok(*id),
        SendTarget::ViaMessage { message_id, .. } => {
            store::messages::find_many(&app.reader, &[*message_id])
                .await?
                .first()
                .map(|m| m.room_id)
                .ok_or(ChatError::NotFound)
        }
    }
}
