//! chatd's schema, one step per file. The schema lives only here; `chatd migrate` and server
//! start-up apply every pending step.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_users;
mod m20261126_000002_create_rooms;
mod m20261126_000003_create_room_memberships;
mod m20261126_000004_create_messages;
mod m20261126_000005_add_room_last_message;
mod m20261126_000006_create_message_details;
mod m20261126_000007_create_notifications;
mod m20261126_000008_create_sessions;
mod m20261129_000009_add_membership_foreign_keys;
mod m20261129_000010_index_message_history;
mod m20261129_000011_add_member_unread_count;
mod m20261129_000013_derive_recipients_from_membership;
mod m20261130_000014_partial_reference_indexes;
mod m20261130_000015_index_notification_replay;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_users::Migration),
            Box::new(m20261126_000002_create_rooms::Migration),
            Box::new(m20261126_000003_create_room_memberships::Migration),
            Box::new(m20261126_000004_create_messages::Migration),
            Box::new(m20261126_000005_add_room_last_message::Migration),
            Box::new(m20261126_000006_create_message_details::Migration),
            Box::new(m20261126_000007_create_notifications::Migration),
            Box::new(m20261126_000008_create_sessions::Migration),
            Box::new(m20261129_000009_add_membership_foreign_keys::Migration),
            Box::new(m20261129_000010_index_message_history::Migration),
            Box::new(m20261129_000011_add_member_unread_count::Migration),
            Box::new(m20261129_000013_derive_recipients_from_membership::Migration),
            Box::new(m20261130_000014_partial_reference_indexes::Migration),
            Box::new(m20261130_000015_index_notification_replay::Migration),
        ]
    }
}
