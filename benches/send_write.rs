//! The write of a `message.send` in a channel of 300 subscribers (the default cap): the
//! message, its notification for the 299 others, in one transaction — without and with the
//! unread counter (`store::unread::count_new_message`: the sender's own message settled on
//! their membership, one single-row UPDATE since recipients are implied, migration 000013;
//! before, one UPDATE of the other 299 memberships). The first is the baseline; the
//! difference is what unread counts cost a send.
//!
//! `CHATD_BENCH_DATABASE_URL` runs it on PostgreSQL (default: a temporary SQLite file).

use std::time::{Duration, Instant};

use chatd::rooms::room::RoomKind;
use chatd::sanitize::sanitize;
use chatd::store::messages::NewMessage;
use chatd::store::notifications::NotificationKind;
use chatd::store::{self, rooms::NewRoom};
use criterion::{criterion_group, criterion_main, Criterion};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;
use support::TempFile;

const MEMBERS: i64 = 300;

async fn fixture() -> (DatabaseConnection, Uuid, Option<TempFile>) {
    let (db, file) = support::temp_database().await;
    support::users(&db, 1..=MEMBERS).await;
    let id = Uuid::new_v4();
    let txn = db.begin().await.expect("begin");
    let room = NewRoom {
        id,
        kind: RoomKind::Channel,
        creator: 1,
        members: (1..=MEMBERS).collect(),
        profile: None,
        cap: Some(MEMBERS),
        preferences: serde_json::json!({}),
    };
    store::rooms::create(&txn, room).await.expect("room");
    txn.commit().await.expect("commit");
    (db, id, file)
}

fn send_write(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (db, room, _file) = rt.block_on(fixture());
    let recipients: Vec<i64> = (2..=MEMBERS).collect();
    let write = |counters: bool| {
        let (db, recipients) = (&db, &recipients);
        async move {
            let txn = db.begin().await.expect("begin");
            let new = NewMessage {
                room_id: room,
                sender_id: 1,
                content: sanitize("news for every subscriber"),
                parent_message_id: None,
                forwarded_from_id: None,
                is_forwarded: false,
                media: Vec::new(),
                notification_type: Some(NotificationKind::NewMessage),
            };
            let stored = store::messages::create(&txn, new, recipients)
                .await
                .expect("create");
            if counters {
                store::unread::count_new_message(&txn, room, 1)
                    .await
                    .expect("count");
            }
            txn.commit().await.expect("commit");
            stored.message.id
        }
    };
    let mut group = c.benchmark_group("send_write_300_members");
    for (name, counters) in [("baseline_without_unread", false), ("with_unread", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(write(counters).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    targets = send_write
}
criterion_main!(benches);
