//! Fixtures the criterion benches share: a fresh migrated database, users, a group.
//! Each bench includes this module and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use chatd::config::Settings;
use chatd::protocol::client::Profile;
use chatd::rooms::room::RoomKind;
use chatd::store::{self, rooms::NewRoom};
use chrono::Utc;
use entity::user;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, TransactionTrait};
use uuid::Uuid;

/// Removes the SQLite file (and its WAL) when the bench ends.
pub struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A migrated database: `CHATD_BENCH_DATABASE_URL` when set (e.g. PostgreSQL), else a
/// temporary SQLite file opened as the server opens it, removed with the returned guard.
pub async fn temp_database() -> (DatabaseConnection, Option<TempFile>) {
    let (_, db, file) = temp_database_settings().await;
    (db, file)
}

/// [`temp_database`], with the settings that name it.
pub async fn temp_database_settings() -> (Settings, DatabaseConnection, Option<TempFile>) {
    let (url, file) = match std::env::var("CHATD_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let path = std::env::temp_dir().join(format!("chatd-bench-{}.db", Uuid::new_v4()));
            (
                format!("sqlite://{}?mode=rwc", path.display()),
                Some(TempFile(path)),
            )
        }
    };
    let settings = Settings::load_with(None, &[("database.url", url.as_str())]).expect("settings");
    let db = store::connect(&settings.database).await.expect("connect");
    store::migrate(&db).await.expect("migrate");
    (settings, db, file)
}

/// Users `ids`, named `user<id>`, in one statement.
pub async fn users(db: &DatabaseConnection, ids: RangeInclusive<i64>) {
    let now = Utc::now();
    user::Entity::insert_many(ids.map(|id| user::ActiveModel {
        id: Set(id),
        username: Set(format!("user{id}")),
        email: Set(format!("user{id}@example.com")),
        first_name: Set("User".into()),
        last_name: Set(id.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }))
    .exec(db)
    .await
    .expect("users");
}

/// A GroupChat `name` of users 1..=n (who exist), created by user 1, capped at n.
pub async fn group_of(db: &DatabaseConnection, n: usize, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    let txn = db.begin().await.expect("begin");
    store::rooms::create(
        &txn,
        NewRoom {
            id,
            kind: RoomKind::GroupChat,
            creator: 1,
            members: (1..=n as i64).collect::<BTreeSet<_>>(),
            profile: Some(Profile {
                name: name.to_string(),
                description: None,
                avatar: None,
                cap: Some(n as i64),
                group_locked: false,
                join_approval_required: false,
                is_public: false,
            }),
            cap: Some(n as i64),
            preferences: serde_json::json!({}),
        },
    )
    .await
    .expect("room");
    txn.commit().await.expect("commit");
    id
}
