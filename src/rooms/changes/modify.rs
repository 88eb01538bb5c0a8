//! `room.modify` (rooms.md §12A): the gate (creator for `delete`, admin/moderator for the
//! rest), then the action validated for the room's type. `delete` tells everyone who was a
//! member; every other action broadcasts the room as it now is, also when nothing changed.

use sea_orm::DatabaseTransaction;

use super::{delete, detail_of, After, Dispatch, Outcome, Write, WriteError};
use crate::protocol::client::RoomModifyAction;
use crate::protocol::server::{event, routed};
use crate::rooms::messages::Modify;
use crate::rooms::room::{Action, Room};
use crate::store;

impl Write for Modify {
    type Answer = ();

    async fn write(
        &self,
        txn: &DatabaseTransaction,
        room: &Room,
    ) -> Result<Outcome<()>, WriteError> {
        let gate = if self.request.is_delete() {
            Action::Delete
        } else {
            Action::Manage
        };
        room.authorize(self.by.id, gate)?;
        let mut after = room.clone();
        match self.request.parse(room.kind)? {
            RoomModifyAction::Delete => {
                return delete(txn, room, room.members.iter().copied().collect()).await;
            }
            RoomModifyAction::Update(update) => {
                if store::rooms::update(txn, room.id, &update).await?.is_none() {
                    return Err(WriteError::Stale);
                }
                after.group_locked = update.group_locked.unwrap_or(after.group_locked);
                after.is_public = update.is_public.unwrap_or(after.is_public);
            }
            RoomModifyAction::Roles { grant, users } => {
                let targets = room.role_targets(&users);
                if grant {
                    store::rooms::promote(txn, room, &targets).await?;
                    after.promote(&targets);
                } else {
                    store::rooms::demote(txn, room, &targets).await?;
                    after.demote(&targets);
                }
            }
            RoomModifyAction::Permissions {
                grant,
                users,
                permissions,
            } => {
                let targets = room.role_targets(&users);
                if grant {
                    store::rooms::grant(txn, room.id, &targets, &permissions).await?;
                    after.grant(&targets, &permissions);
                } else {
                    store::rooms::revoke(txn, room.id, &targets, &permissions).await?;
                    after.revoke(&targets, &permissions);
                }
            }
            // A role or permission action on a one-to-one chat: broadcast, change nothing.
            RoomModifyAction::Nothing => {}
        }
        let detail = detail_of(txn, &after).await?;
        Ok(Outcome {
            after: After::Changed(after),
            dispatches: vec![Dispatch::to_members(routed(event::ROOM_UPDATE, &detail))],
            answer: (),
            notice: None,
        })
    }
}
