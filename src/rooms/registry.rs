//! Finds the `RoomActor` of a room, starting it (supervised, on the rooms arbiter) the first
//! time the room is needed. An actor that died (a panic ends its supervisor too) is noticed by
//! its closed mailbox and replaced with a fresh one loaded from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::actor::{RoomActor, RoomState};
use crate::presence::Deliver;
use crate::protocol::client::RoomKind;
use crate::store::{self, StoreError};

pub struct RoomRegistry {
    rooms: Mutex<HashMap<Uuid, Addr<RoomActor>>>,
    arbiter: ArbiterHandle,
    db: DatabaseConnection,
    delivery: Arc<dyn Deliver>,
    mailbox: usize,
}

impl RoomRegistry {
    pub fn new(
        db: DatabaseConnection,
        delivery: Arc<dyn Deliver>,
        arbiter: ArbiterHandle,
        mailbox: usize,
    ) -> Self {
        RoomRegistry {
            rooms: Mutex::new(HashMap::new()),
            arbiter,
            db,
            delivery,
            mailbox,
        }
    }

    fn live(&self, room_id: Uuid) -> Option<Addr<RoomActor>> {
        let map = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&room_id).filter(|a| a.connected()).cloned()
    }

    /// The room's actor, or `None` when the room does not exist.
    pub async fn get(&self, room_id: Uuid) -> Result<Option<Addr<RoomActor>>, StoreError> {
        if let Some(addr) = self.live(room_id) {
            return Ok(Some(addr));
        }
        let Some(room) = store::rooms::find(&self.db, room_id).await? else {
            return Ok(None);
        };
        let members = store::rooms::member_ids(&self.db, room_id).await?;
        let kind = RoomKind::parse(&room.room_type).unwrap_or(RoomKind::GroupChat);
        let state = RoomState {
            id: room_id,
            kind,
            members: members.into_iter().collect(),
        };

        let mut map = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        // Another caller may have started it while we were loading.
        if let Some(addr) = map.get(&room_id).filter(|a| a.connected()) {
            return Ok(Some(addr.clone()));
        }
        let delivery = self.delivery.clone();
        let mailbox = self.mailbox;
        let addr = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            RoomActor::new(state, delivery, mailbox)
        });
        map.insert(room_id, addr.clone());
        Ok(Some(addr))
    }
}
