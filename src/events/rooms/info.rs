//! `room.info`: the room detail, to all of the caller's connections (members only).

use uuid::Uuid;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame};
use crate::rooms::messages::Authorize;
use crate::rooms::room::Action;
use crate::store;

pub async fn info(
    app: &AppState,
    caller: &Caller,
    room_id: Uuid,
) -> Result<Option<Frame>, ChatError> {
    app.rooms
        .call(
            room_id,
            Authorize {
                user_id: caller.user.id,
                action: Action::View,
            },
        )
        .await??;
    let room = store::rooms::find(&app.db, room_id)
        .await?
        .ok_or(ChatError::NotFound)?;
    let detail = store::rooms::detail(&app.db, &room).await?;
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_INFO, &detail));
    Ok(None)
}
