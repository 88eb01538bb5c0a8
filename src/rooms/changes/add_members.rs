//! `room.add_members` (rooms.md §11): every id must be a user; members already in are
//! skipped; the cap refuses the whole add.

use sea_orm::DatabaseTransaction;

use super::{
    detail_of, members_after_gate, usernames, After, Dispatch, Outcome, Write, WriteError,
};
use crate::protocol::server::{event, routed, MembersAdded};
use crate::rooms::messages::AddMembers;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for AddMembers {
    type Answer = ();

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<()>, WriteError> {
        let ids =
            members_after_gate(txn, room, self.by.id, Action::AddMembers, &self.members).await?;
        let newcomers = room.newcomers(&ids);
        let mut after = room.clone();
        after.admit(&newcomers)?;
        store::rooms::admit(txn, room.id, &newcomers).await?;
        let detail = detail_of(txn, &after).await?;
        let frame = routed(
            event::ROOM_ADD_MEMBERS,
            &MembersAdded {
                room: &detail,
                new_members: usernames(txn, &newcomers).await?,
                added_by: &self.by.username,
            },
        );
        Ok(Outcome {
            after: After::Changed(after),
            // The new members are in the audience: they learn of the room this way.
            dispatches: vec![Dispatch::to_members(frame)],
            answer: (),
            notice: None,
        })
    }
}
