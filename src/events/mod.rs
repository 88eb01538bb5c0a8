//! What each client event does: validate, authorise, persist, then hand the dispatch to its
//! audience. One module per event family, one file per event; [`handle`] is the one dispatch
//! `match`. Handlers return the frame meant for the asking connection only (if any);
//! everything else goes out through room actors (R(room)) or presence (U(user)).

mod messages;
mod rooms;

/// `message.send` in steps, for a session that pipelines its connection's sends: every check,
/// then queued with the room's actor (which answers at once), then its outcome counted.
pub use messages::{prepare_send, queue_send, sent, Prepared};

use std::sync::Arc;

use uuid::Uuid;

use crate::app::AppState;
use crate::protocol::client::ClientEvent;
use crate::protocol::errors::ChatError;
use crate::protocol::server::{Frame, UserView};
use crate::rooms::messages::{AddMembers, Join, Leave, Modify, RemoveMembers};

/// The authenticated user behind a connection.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user as payloads show one (events need only its id and username besides), made
    /// once per connection and shared by every event and every message it sends (the
    /// message's view, dispatch and notification): cloning a caller copies no string.
    pub user: Arc<UserView>,
    pub connection_id: Uuid,
}

impl Caller {
    /// The caller as payloads show a user.
    pub fn view(&self) -> UserView {
        UserView::clone(&self.user)
    }
}

pub async fn handle(
    app: Arc<AppState>,
    caller: Caller,
    event: ClientEvent,
) -> Result<Option<Frame>, ChatError> {
    match event {
        // Answered by the session itself; never routed here.
        ClientEvent::SessionHeartbeat => Ok(None),
        ClientEvent::RoomCreate(req) => rooms::create(&app, &caller, *req).await,
        ClientEvent::RoomList => rooms::list(&app, &caller).await,
        ClientEvent::RoomInfo { room_id } => rooms::info(&app, &caller, room_id).await,
        ClientEvent::RoomJoin { room_id } => {
            let user = caller.view();
            rooms::change(&app, room_id, Join { user }).await
        }
        ClientEvent::RoomLeave { room_id } => {
            let user = caller.view();
            rooms::change(&app, room_id, Leave { user }).await
        }
        ClientEvent::RoomAddMembers { room_id, members } => {
            let by = caller.view();
            rooms::change(&app, room_id, AddMembers { by, members }).await
        }
        ClientEvent::RoomRemoveMembers { room_id, members } => {
            let by = caller.view();
            rooms::change(&app, room_id, RemoveMembers { by, members }).await
        }
        ClientEvent::RoomModify(request) => {
            let by = caller.view();
            rooms::change(&app, request.room_id, Modify { by, request }).await
        }
        ClientEvent::MessageSend(req) => messages::send(&app, &caller, req).await,
        ClientEvent::MessageAcknowledged { message_ids } => {
            messages::acknowledged(app, caller, message_ids).await
        }
        ClientEvent::MessageModify(req) => messages::modify(app, caller, req).await,
        ClientEvent::MessageReact(req) => messages::react(app, caller, req).await,
        ClientEvent::MessageRead(req) => messages::read(app, caller, req).await,
        ClientEvent::MessageTyping(target) => messages::typing(&app, &caller, target).await,
        ClientEvent::RoomMessages(req) => messages::room_messages(&app, &caller, req).await,
    }
}
