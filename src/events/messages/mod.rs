//! `message.*` events (and `room.messages`), one file each; `gate` holds the checks they share.

mod acknowledged;
mod gate;
mod history;
mod modify;
mod react;
mod read;
mod send;
mod typing;

pub use acknowledged::acknowledged;
pub use history::room_messages;
pub use modify::modify;
pub use react::react;
pub use read::read;
pub use send::send;
pub use typing::typing;
