//! `room.messages`: rendering a page of history from a room with a million messages against
//! the same from a room with ten, on one database in the same run, so the numbers read as a
//! ratio (the small room is the baseline). Pages are read the way the event reads them: in a
//! snapshot, ids then rendering (`store::messages::history_page`); the last page, which a
//! page out of range falls back to, as a count plus a read from the oldest end.
//!
//! `CHATD_BENCH_HISTORY_MESSAGES` sets the size of the large room (default 1 000 000);
//! `CHATD_BENCH_DATABASE_URL` runs it on PostgreSQL (default: a temporary SQLite file).
//! Building the large room takes a while; it happens once per run.

use std::time::{Duration, Instant};

use chatd::rooms::room::RoomKind;
use chatd::store::messages::{count_live, history_page, Newest};
use chatd::store::{self, rooms::NewRoom};
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use entity::message;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, TransactionTrait};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;
use support::TempFile;

/// Both rooms serve a full page, so the two renderings do the same work but for the room.
const PAGE: u64 = 10;
const SMALL: usize = 10;

struct Fixture {
    db: DatabaseConnection,
    small: Uuid,
    large: Uuid,
    _file: Option<TempFile>,
}

async fn fixture(large_size: usize) -> Fixture {
    let (db, file) = support::temp_database().await;
    support::users(&db, 1..=3).await;
    let (small, large) = (Uuid::new_v4(), Uuid::new_v4());
    let txn = db.begin().await.expect("begin");
    for (id, peer) in [(small, 2), (large, 3)] {
        let room = NewRoom {
            id,
            kind: RoomKind::OneToOneChat,
            creator: 1,
            members: [1, peer].into(),
            profile: None,
            cap: None,
            preferences: serde_json::json!({}),
        };
        store::rooms::create(&txn, room).await.expect("room");
    }
    txn.commit().await.expect("commit");

    let started = Instant::now();
    fill(&db, small, SMALL).await;
    fill(&db, large, large_size).await;
    eprintln!(
        "history bench: rooms of {SMALL} and {large_size} messages built in {:.1?}",
        started.elapsed()
    );
    Fixture {
        db,
        small,
        large,
        _file: file,
    }
}

/// `n` messages a millisecond apart, every tenth a reply to the one before it (so pages
/// render quoted messages too), inserted in batches within one transaction.
async fn fill(db: &DatabaseConnection, room: Uuid, n: usize) {
    // Eleven columns per row: a batch stays well under SQLite's 32 766 bound parameters.
    const BATCH: usize = 2_000;
    let start = Utc::now() - chrono::Duration::milliseconds(n as i64 + 1);
    let txn = db.begin().await.expect("begin");
    let mut previous: Option<Uuid> = None;
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..n {
        let id = Uuid::new_v4();
        let at = start + chrono::Duration::milliseconds(i as i64);
        batch.push(message::ActiveModel {
            id: Set(id),
            room_id: Set(room),
            sender_id: Set(1 + (i % 2) as i64),
            content: Set(format!("message {i} with a little text in it")),
            is_deleted: Set(false),
            created_at: Set(at),
            updated_at: Set(at),
            parent_message_id: Set(previous.filter(|_| i % 10 == 0)),
            is_forwarded: Set(false),
            forwarded_from_id: Set(None),
            is_edited: Set(false),
        });
        previous = Some(id);
        if batch.len() == BATCH {
            message::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(&txn)
                .await
                .expect("insert");
        }
    }
    if !batch.is_empty() {
        message::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await
            .expect("insert");
    }
    txn.commit().await.expect("commit");
}

fn history(c: &mut Criterion) {
    let large_size: usize = std::env::var("CHATD_BENCH_HISTORY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fx = rt.block_on(fixture(large_size));

    // Page 1 (the page every client asks for first), then a page deep in the room: its
    // offset is walked in the index, so it costs by its depth, not by the room's size.
    let mut group = c.benchmark_group("history_first_page");
    for (name, room) in [("baseline_10_messages", fx.small), ("large_room", fx.large)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async {
                    let snapshot = store::read_snapshot(&fx.db).await.expect("snapshot");
                    let (page, _) = history_page(&snapshot, room, Newest::First, 0, Some(PAGE))
                        .await
                        .expect("page");
                    snapshot.commit().await.expect("commit");
                    page
                })
            })
        });
    }
    group.bench_function("large_room_page_100", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                history_page(&fx.db, fx.large, Newest::First, 99 * PAGE, Some(PAGE))
                    .await
                    .expect("page")
            })
        })
    });
    group.finish();

    // A page out of range serves the last page: a count of the room's live messages, then
    // the oldest messages read from the other end of the index.
    let mut group = c.benchmark_group("history_last_page");
    for (name, room) in [("baseline_10_messages", fx.small), ("large_room", fx.large)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async {
                    let count = count_live(&fx.db, room).await.expect("count");
                    let last = count - (count.div_ceil(PAGE).max(1) - 1) * PAGE;
                    history_page(&fx.db, room, Newest::Last, 0, Some(last))
                        .await
                        .expect("page")
                })
            })
        });
    }
    group.finish();
}

/// Runs `iteration` `iters` times, one after the other, on the bench's runtime.
fn timed<F, Fut, T>(rt: &tokio::runtime::Runtime, iters: u64, iteration: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(iteration().await);
        }
        start.elapsed()
    })
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    targets = history
}
criterion_main!(benches);
