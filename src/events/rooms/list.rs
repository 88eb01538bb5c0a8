//! `room.list`: every room of the caller, to all of the caller's connections.

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame};
use crate::store;

pub async fn list(app: &AppState, caller: &Caller) -> Result<Option<Frame>, ChatError> {
    let entries = store::rooms::list_for_user(&app.reader, caller.user.id).await?;
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_LIST, &entries));
    Ok(None)
}
