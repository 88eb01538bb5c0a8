//! `room.create`, `room.list`, `room.info`.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::{internal, Caller};
use crate::protocol::client::{MemberRef, RoomCreate, RoomKind};
use crate::protocol::errors::{denied, ChatError};
use crate::protocol::server::{event, routed, Frame};
use crate::rooms::messages::Fanout;
use crate::startup::AppState;
use crate::store::{self, StoreError};

const ONE_TO_ONE_SIZE: &str = "['A one to one chat can only have 2 participants']";
const CHAT_EXISTS: &str = "['Chat already exists']";

pub async fn create(
    app: &AppState,
    caller: &Caller,
    req: RoomCreate,
) -> Result<Option<Frame>, ChatError> {
    debug_assert_eq!(req.kind, RoomKind::OneToOneChat);
    if let Some(id) = req.id {
        if store::rooms::find(&app.db, id).await?.is_some() {
            return Err(ChatError::field("id", "room with this id already exists."));
        }
    }
    let mut wanted = Vec::new();
    for member in &req.members {
        match member {
            MemberRef::Id(id) => wanted.push(*id),
            MemberRef::NotANumber(raw) => {
                return Err(ChatError::rule(format!(
                    "Field 'id' expected a number but got '{raw}'."
                )))
            }
            MemberRef::Ignored => {}
        }
    }
    // Unknown users are dropped and the requester is always in (rooms.md §6.3).
    let mut members: BTreeSet<i64> = store::users::find_many(&app.db, &wanted)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    members.insert(caller.user.id);
    let pair: Vec<i64> = members.into_iter().collect();
    let [a, b] = pair[..] else {
        return Err(ChatError::rule(ONE_TO_ONE_SIZE));
    };
    if store::rooms::find_one_to_one(&app.db, a, b)
        .await?
        .is_some()
    {
        return Err(ChatError::rule(CHAT_EXISTS));
    }
    let id = req.id.unwrap_or_else(Uuid::new_v4);
    let room = match store::rooms::create_one_to_one(&app.db, id, [a, b], req.preferences).await {
        Ok(room) => room,
        // Lost a race: either the pair or the client-chosen id was taken meanwhile.
        Err(StoreError::Constraint(_))
            if store::rooms::find_one_to_one(&app.db, a, b)
                .await?
                .is_some() =>
        {
            return Err(ChatError::rule(CHAT_EXISTS));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = store::rooms::detail(&app.db, &room).await?;
    let frame = routed(event::ROOM_CREATE, &detail);
    let actor = app
        .rooms
        .get(room.id)
        .await?
        .ok_or_else(|| internal("room.create", "room vanished after creation"))?;
    actor
        .send(Fanout { frame })
        .await
        .map_err(|e| internal("room actor", e))?;
    Ok(None)
}

pub async fn list(app: &AppState, caller: &Caller) -> Result<Option<Frame>, ChatError> {
    let entries = store::rooms::list_for_user(&app.db, caller.user.id).await?;
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_LIST, &entries));
    Ok(None)
}

pub async fn info(
    app: &AppState,
    caller: &Caller,
    room_id: Uuid,
) -> Result<Option<Frame>, ChatError> {
    let room = store::rooms::find(&app.db, room_id)
        .await?
        .ok_or(ChatError::NotFound)?;
    if !store::rooms::is_member(&app.db, room_id, caller.user.id).await? {
        return Err(ChatError::PermissionDenied(denied::ACCESS_ROOM));
    }
    let detail = store::rooms::detail(&app.db, &room).await?;
    app.delivery
        .to_user(caller.user.id, &routed(event::ROOM_INFO, &detail));
    Ok(None)
}
