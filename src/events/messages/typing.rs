//! `message.typing`: not stored; the room's actor checks may-post and sends
//! `{"username", "room_id"}` to every member but the typist (DECISIONS 23) — one round trip.

use super::gate::target_room;
use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::SendTarget;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame, TypingView};
use crate::rooms::messages::Typing;

pub async fn typing(
    app: &AppState,
    caller: &Caller,
    target: SendTarget,
) -> Result<Option<Frame>, ChatError> {
    let room_id = target_room(app, &target).await?;
    let frame = routed(
        event::TYPING,
        &TypingView {
            username: caller.user.username.clone(),
            room_id,
        },
    );
    app.rooms
        .call(
            room_id,
            Typing {
                user_id: caller.user.id,
                frame,
            },
        )
        .await??;
    Ok(None)
}
