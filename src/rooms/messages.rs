//! What a `RoomActor` is asked.

use actix::prelude::*;

use crate::protocol::server::Frame;

/// Send an encoded dispatch to every connection of every current member: R(room).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fanout {
    pub frame: Frame,
}

/// May `user_id` post in this room (messages.md §7.2)?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CanPost {
    pub user_id: i64,
}
