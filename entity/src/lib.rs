//! sea-orm entities for chatd: the shape of each table, nothing else.
//!
//! The schema itself lives in the `migration` crate; queries live in chatd's `store` module.

pub mod attachment;
pub mod message;
pub mod message_delivery;
pub mod notification;
pub mod notification_release;
pub mod reaction;
pub mod read_receipt;
pub mod room;
pub mod room_manager;
pub mod room_member;
pub mod room_permission;
pub mod session;
pub mod user;
