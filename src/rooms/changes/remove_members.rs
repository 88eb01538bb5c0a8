//! `room.remove_members` (rooms.md §12): the creator only goes if they remove themself;
//! non-members are skipped. A removal that empties the room deletes it, and each removed user
//! is told so (DECISIONS 11).

use sea_orm::DatabaseTransaction;

use super::{
    delete, detail_of, members_after_gate, usernames, After, Dispatch, Outcome, Write, WriteError,
};
use crate::protocol::server::{event, routed, MembersRemoved, RoomExit};
use crate::rooms::messages::RemoveMembers;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for RemoveMembers {
    type Answer = ();

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<()>, WriteError> {
        let ids =
            members_after_gate(txn, room, self.by.id, Action::RemoveMembers, &self.members).await?;
        let removed = room.removable(self.by.id, &ids);
        let mut after = room.clone();
        after.remove(&removed);
        if after.members.is_empty() {
            return delete(txn, room, removed).await;
        }
        store::rooms::remove(txn, room.id, &removed).await?;
        let detail = detail_of(txn, &after).await?;
        let exit = routed(
            event::ROOM_EXIT,
            &RoomExit {
                room: &detail,
                message: format!("You have been removed by {}", self.by.username),
            },
        );
        let broadcast = routed(
            event::ROOM_REMOVE_MEMBERS,
            &MembersRemoved {
                room: &detail,
                removed_members: usernames(txn, &removed).await?,
                removed_by: &self.by.username,
            },
        );
        Ok(Outcome {
            after: After::Changed(after),
            dispatches: vec![
                Dispatch::to_users(removed, exit),
                Dispatch::to_members(broadcast),
            ],
            answer: (),
            notice: None,
        })
    }
}
