//! Rooms as actors: one `RoomActor` per active room owns its `Room` (membership, roles,
//! permissions, lock), runs every change to it (`changes/`) and fans dispatches out; the
//! registry starts them on demand under a supervisor and retires idle ones.

pub mod actor;
mod changes;
mod job;
pub mod lease;
pub mod messages;
pub mod registry;
pub mod room;

pub use actor::RoomActor;
pub use registry::RoomRegistry;
