//! `room.leave` (rooms.md §10): the leaver loses membership, role and permissions (and their
//! pending notifications for the room: DECISIONS 26). The last member leaving deletes the
//! room and is told only that.

use sea_orm::DatabaseTransaction;

use super::{delete, detail_of, After, Dispatch, Outcome, Write, WriteError};
use crate::protocol::server::{event, routed, MembersRemoved, RoomDetail, RoomExit};
use crate::rooms::messages::Leave;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for Leave {
    type Answer = ();

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<()>, WriteError> {
        let user = self.user.id;
        room.authorize(user, Action::Leave)?;
        let mut after = room.clone();
        after.remove(&[user]);
        if after.members.is_empty() {
            return delete(txn, room, vec![user]).await;
        }
        store::rooms::remove(txn, room.id, &[user]).await?;
        let detail = detail_of(txn, &after).await?;
        let name = match &detail {
            RoomDetail::Group(g) => g.name.as_str(),
            RoomDetail::Channel(c) => c.name.as_str(),
            RoomDetail::OneToOne(_) => "",
        };
        let exit = routed(
            event::ROOM_EXIT,
            &RoomExit {
                room: &detail,
                message: format!("You left {name}"),
            },
        );
        let removed = routed(
            event::ROOM_REMOVE_MEMBERS,
            &MembersRemoved {
                room: &detail,
                removed_members: vec![self.user.username.clone()],
                removed_by: "self",
            },
        );
        Ok(Outcome {
            after: After::Changed(after),
            dispatches: vec![
                Dispatch::to_users(vec![user], exit),
                Dispatch::to_members(removed),
            ],
            answer: (),
            notice: None,
        })
    }
}
