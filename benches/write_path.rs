//! The durable `message.send` write as the room actor runs it: one transaction holding
//! `store::messages::create` (the message, the room's `last_message` and counters, the
//! notification for every other member), committed — on a temporary SQLite file opened the
//! way the server opens it (WAL, `synchronous = NORMAL`).
//!
//! `message_send_batched_64` is that write 64 times in one transaction, one commit (time per
//! send): the writer's batch when it writes each send by itself (a message with media, or the
//! retry after a failure). `message_send_multirow_64` is the batch as the writer writes 64
//! plain sends: `store::messages::create_many`, four statements for all of them (one query on
//! SQLite), with the senders' unread counters.
//!
//! Per room size (2 members: a one-to-one chat's recipient count; 300: a full channel), the
//! baseline in the same run, `baseline_without_notifications`, is the same write with
//! notifications off, so the difference is what notifying the other members costs: one row
//! whatever their number since recipients are implied by membership (migration 000013), one
//! row per recipient before — the number behind the notification-layout question (issue 8,
//! item 3).

use std::time::Instant;

use chatd::auth::Identity;
use chatd::config::Settings;
use chatd::sanitize::sanitize;
use chatd::store;
use chatd::store::messages::{NewMessage, Planned};
use chatd::store::notifications::NotificationKind;
use criterion::{criterion_group, criterion_main, Criterion};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

const MEMBERS: [usize; 2] = [2, 300];

/// Sends of one batch of the writer (`store::writer`) in `batched`.
const BATCH: u64 = 64;

fn message(room_id: Uuid, notify: bool) -> NewMessage {
    NewMessage {
        room_id,
        sender_id: 1,
        content: sanitize("hello from sender 0001, a small chat message of realistic size"),
        parent_message_id: None,
        forwarded_from_id: None,
        is_forwarded: false,
        media: Vec::new(),
        notification_type: notify.then_some(NotificationKind::NewMessage),
    }
}

/// One `message.send` write, committed.
async fn write(db: &DatabaseConnection, room_id: Uuid, recipients: &[i64], notify: bool) {
    let txn = db.begin().await.expect("begin");
    store::messages::create(&txn, message(room_id, notify), recipients)
        .await
        .expect("create");
    txn.commit().await.expect("commit");
}

/// `count` `message.send` writes as the writer commits a batch of them when none fails: one
/// transaction, one commit (`store::writer`; a savepoint each only when one fails).
async fn write_batch(db: &DatabaseConnection, room_id: Uuid, recipients: &[i64], count: u64) {
    let txn = db.begin().await.expect("begin");
    for _ in 0..count {
        store::messages::create(&txn, message(room_id, true), recipients)
            .await
            .expect("create");
    }
    txn.commit().await.expect("commit");
}

/// `count` plain sends as the writer commits a batch of them: one `create_many`, one commit.
async fn write_multirow(db: &DatabaseConnection, room_id: Uuid, recipients: &[i64], count: u64) {
    let planned: Vec<Planned> = (0..count)
        .map(|_| Planned {
            message: message(room_id, true),
            recipients: recipients.len(),
        })
        .collect();
    let txn = db.begin().await.expect("begin");
    store::messages::create_many(&txn, &planned)
        .await
        .expect("create_many");
    txn.commit().await.expect("commit");
}

fn write_path(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("chatd-bench-write-{}.db", Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let settings = Settings::load_with(None, &[("database.url", url.as_str())]).expect("settings");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(async {
        let db = store::connect(&settings.database).await.expect("connect");
        store::migrate(&db).await.expect("migrate");
        for id in 1..=*MEMBERS.iter().max().unwrap_or(&2) as i64 {
            let who = Identity {
                user_id: id,
                username: Some(format!("user{id}")),
                email: None,
                first_name: None,
                last_name: None,
            };
            store::users::upsert_from_identity(&db, &db, &who)
                .await
                .expect("user");
        }
        db
    });
    for n in MEMBERS {
        let room = runtime.block_on(support::group_of(&db, n, &format!("write path {n}")));
        // Everyone but the sender is owed a notification.
        let recipients: Vec<i64> = (2..=n as i64).collect();
        let mut group = c.benchmark_group(format!("write_path/{n}_members"));
        for (name, notify) in [
            ("baseline_without_notifications", false),
            ("message_send", true),
        ] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iters {
                            write(&db, room, &recipients, notify).await;
                        }
                        started.elapsed()
                    })
                })
            });
        }
        // Time per send, as in `message_send`, when the writer commits BATCH at a time: each
        // send by itself, or all of them in multi-row statements.
        for (name, multirow) in [("batched", false), ("multirow", true)] {
            group.bench_function(format!("message_send_{name}_{BATCH}"), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        let mut left = iters;
                        while left > 0 {
                            let count = left.min(BATCH);
                            if multirow {
                                write_multirow(&db, room, &recipients, count).await;
                            } else {
                                write_batch(&db, room, &recipients, count).await;
                            }
                            left -= count;
                        }
                        started.elapsed()
                    })
                })
            });
        }
        group.finish();
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, write_path);
criterion_main!(benches);
