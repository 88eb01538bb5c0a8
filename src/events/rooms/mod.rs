//! `room.*` events, one file each.

mod create;
mod info;
mod list;

pub use create::create;
pub use info::info;
pub use list::list;
