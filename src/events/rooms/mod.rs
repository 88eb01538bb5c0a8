//! `room.*` events. `room.create`, `room.list` and `room.info` have a file each; the events
//! that change an existing room (`room.join`, `room.leave`, `room.add_members`,
//! `room.remove_members`, `room.modify`) are each one message to the room's actor, which
//! checks, writes, applies and fans out (`src/rooms/changes/<event>.rs`).

mod create;
mod info;
mod list;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use uuid::Uuid;

use crate::app::AppState;
use crate::protocol::errors::ChatError;
use crate::protocol::server::Frame;
use crate::rooms::RoomActor;

pub use create::create;
pub use info::info;
pub use list::list;

/// Hands a change to the room's actor; everything it says goes out through the actor.
pub async fn change<M>(app: &AppState, room_id: Uuid, msg: M) -> Result<Option<Frame>, ChatError>
where
    M: Message<Result = Result<(), ChatError>> + Clone + Send + 'static,
    RoomActor: Handler<M>,
    <RoomActor as Actor>::Context: ToEnvelope<RoomActor, M>,
{
    app.rooms.call(room_id, msg).await??;
    Ok(None)
}
