//! Rooms as actors: one `RoomActor` per active room owns its membership and fans dispatches
//! out; the registry starts them on demand under a supervisor.

pub mod actor;
pub mod messages;
pub mod registry;
pub mod room;

pub use actor::RoomActor;
pub use registry::RoomRegistry;
