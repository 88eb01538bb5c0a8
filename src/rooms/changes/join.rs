//! `room.join`: a public channel takes anyone (rooms.md §9); a member joining again changes
//! nothing but is announced again (DECISIONS 14).

use sea_orm::DatabaseTransaction;

use super::{detail_of, After, Dispatch, Outcome, Write, WriteError};
use crate::protocol::server::{event, routed, MembersAdded};
use crate::rooms::messages::Join;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for Join {
    type Answer = ();

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<()>, WriteError> {
        let user = self.user.id;
        room.authorize(user, Action::Join)?;
        let mut after = room.clone();
        let joins = !room.is_member(user);
        if joins {
            after.admit(&[user])?;
            store::rooms::admit(txn, room.id, &[user]).await?;
        }
        let detail = detail_of(txn, &after).await?;
        let frame = routed(
            event::ROOM_ADD_MEMBERS,
            &MembersAdded {
                room: &detail,
                new_members: vec![self.user.username.clone()],
                added_by: "self",
            },
        );
        Ok(Outcome {
            after: if joins {
                After::Changed(after)
            } else {
                After::Unchanged
            },
            dispatches: vec![Dispatch::to_members(frame)],
            answer: (),
            notice: None,
        })
    }
}
