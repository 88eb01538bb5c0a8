//! `room.info`: the room detail with the caller's `unread_count`, to all of the caller's
//! connections (members only). The membership comes from the room's actor, which owns it.

use uuid::Uuid;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, RoomInfo};
use crate::rooms::messages::Snapshot;
use crate::rooms::room::Action;
use crate::store;

pub async fn info(
    app: &AppState,
    caller: &Caller,
    room_id: Uuid,
) -> Result<Option<Frame>, ChatError> {
    let room = app.rooms.call(room_id, Snapshot).await??;
    room.authorize(caller.user.id, Action::View)?;
    let row = store::rooms::find(&app.reader, room_id)
        .await?
        .ok_or(ChatError::NotFound)?;
    let detail = store::rooms::detail(&app.reader, &row, &room).await?;
    // A viewer who is no member (a public channel) has nothing unread there.
    let unread_count = store::unread::of_member(&app.reader, room_id, caller.user.id)
        .await?
        .unwrap_or_default();
    let info = RoomInfo {
        detail,
        unread_count,
    };
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_INFO, &info));
    Ok(None)
}
