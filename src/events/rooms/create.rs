//! `room.create`: validate everything (rooms.md §6.5, all checks before any write), create
//! the room in one transaction, then tell every member through the new room's actor.

use std::collections::BTreeSet;

use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::app::AppState;
use crate::events::Caller;
use crate::protocol::client::{MemberRef, RoomCreate};
use crate::protocol::errors::ChatError;
use crate::protocol::server::{event, routed, Frame};
use crate::rooms::messages::Fanout;
use crate::rooms::room::RoomKind;
use crate::store::rooms::NewRoom;
use crate::store::{self, StoreError};

const ONE_TO_ONE_SIZE: &str = "['A one to one chat can only have 2 participants']";
const CHAT_EXISTS: &str = "['Chat already exists']";

pub async fn create(
    app: &AppState,
    caller: &Caller,
    req: RoomCreate,
) -> Result<Option<Frame>, ChatError> {
    let me = caller.user.id;
    let defaults = &app.settings.rooms;
    let cap = match (req.kind, &req.profile) {
        (RoomKind::OneToOneChat, _) | (_, None) => None,
        (RoomKind::GroupChat, Some(p)) => Some(p.cap.unwrap_or(defaults.default_max_participants)),
        (RoomKind::Channel, Some(p)) => Some(p.cap.unwrap_or(defaults.default_max_subscribers)),
    };
    // Step 6: a cap of 0 cannot even hold the creator (single brackets, as the reference).
    if cap.is_some_and(|c| c < 1) {
        return Err(ChatError::rule(req.kind.cap_exceeded()));
    }
    // Step 7.
    let preferences = req.preferences?;
    // Step 8: the initial members. Unknown users are dropped; the requester is always in.
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
    let mut members: BTreeSet<i64> = store::users::find_many(&app.db, &wanted)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    members.insert(me);
    let pair = match req.kind {
        RoomKind::OneToOneChat => {
            let pair: Vec<i64> = members.iter().copied().collect();
            let [a, b] = pair[..] else {
                return Err(ChatError::rule(ONE_TO_ONE_SIZE));
            };
            if store::rooms::find_one_to_one(&app.db, a, b)
                .await?
                .is_some()
            {
                return Err(ChatError::rule(CHAT_EXISTS));
            }
            Some((a, b))
        }
        kind => {
            if cap.is_some_and(|c| members.len() as i128 > i128::from(c)) {
                return Err(ChatError::rule(format!("['{}']", kind.cap_exceeded())));
            }
            None
        }
    };

    let new = NewRoom {
        id: req.id.unwrap_or_else(Uuid::new_v4),
        kind: req.kind,
        creator: me,
        members,
        profile: req.profile,
        cap,
        preferences,
    };
    let created = async {
        let txn = app.db.begin().await?;
        let (row, room) = store::rooms::create(&txn, new).await?;
        let detail = store::rooms::detail(&txn, &row, &room).await?;
        txn.commit().await?;
        Ok::<_, StoreError>((row.id, detail))
    };
    let (id, detail) = match (created.await, pair) {
        (Ok(created), _) => created,
        // Lost a race for the pair: the other creation won. Otherwise a client-chosen id was
        // taken, which the constraint's 4005 answers (DECISIONS 15).
        (Err(StoreError::Constraint(e)), Some((a, b))) => {
            return match store::rooms::find_one_to_one(&app.db, a, b).await? {
                Some(_) => Err(ChatError::rule(CHAT_EXISTS)),
                None => Err(StoreError::Constraint(e).into()),
            };
        }
        (Err(e), _) => return Err(e.into()),
    };
    // The new room's actor starts from what was just committed and tells every member.
    app.rooms.forget(id);
    let frame = routed(event::ROOM_CREATE, &detail);
    app.rooms.call(id, Fanout { frame }).await?;
    Ok(None)
}
