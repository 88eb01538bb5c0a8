//! `room.create`: validate everything, create the room in one transaction, then tell every
//! member through the new room's actor.

use std::collections::BTreeSet;

use uuid::Uuid;

use sea_orm::TransactionTrait;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{MemberRef, RoomCreate};
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame};
use crate::rooms::messages::Fanout;
use crate::rooms::room::RoomKind;
use crate::store::{self, StoreError};

const ONE_TO_ONE_SIZE: &str = "['A one to one chat can only have 2 participants']";
const CHAT_EXISTS: &str = "['Chat already exists']";

pub async fn create(
    app: &AppState,
    caller: &Caller,
    req: RoomCreate,
) -> Result<Option<Frame>, ChatError> {
    if req.kind != RoomKind::OneToOneChat {
        // Groups and channels arrive with their roles, caps and permissions.
        return Err(ChatError::rule("Invalid resource type"));
    }
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
    let created = async {
        let txn = app.db.begin().await?;
        let room = store::rooms::create_one_to_one(&txn, id, [a, b], req.preferences).await?;
        txn.commit().await?;
        Ok::<_, StoreError>(room)
    };
    let room = match created.await {
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
    app.rooms.call(room.id, Fanout { frame }).await?;
    Ok(None)
}
