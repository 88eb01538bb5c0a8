//! `message.*` events (and `room.messages`), one file each.

mod acknowledged;
mod send;

pub use acknowledged::acknowledged;
pub use send::send;
