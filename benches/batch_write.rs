//! The writer's batch of plain sends as `many-rooms` makes it: `--batch N` messages (100 by
//! default) into as many one-to-one rooms, written the way `store::writer` writes such a batch on SQLite
//! (`create_many_script`, then `Script::run_direct`: `BEGIN` to `COMMIT` on the writer's own
//! connection, from this thread; with `--pool`, `Script::run_committed`: one query on the
//! pool's connection, as before "The writer calls SQLite itself"), on a
//! database that already holds `PREFILL` messages. The two forms of the statements
//! (`References`: the schema's foreign keys, or statements that check their references
//! themselves with foreign keys off) are alternated `ROUNDS` times, each for `ROUND_SENDS`
//! sends, so that the database grows evenly under both.
//!
//! Per send: the process's CPU time (this thread, and sqlx's worker thread where SQLite runs
//! with `--pool`; little else runs in the process) and the wall time. CPU time is the figure to read on a
//! shared machine: it does not count the time spent waiting for a core.
//!
//! ```bash
//! cargo bench --bench batch_write
//! cargo bench --bench batch_write -- --batch 8
//! cargo bench --bench batch_write -- --batch 8 --pool
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chatd::rooms::room::RoomKind;
use chatd::sanitize::sanitize;
use chatd::store::direct::Direct;
use chatd::store::messages::{create_many_script_with, NewMessage, Planned, References};
use chatd::store::notifications::NotificationKind;
use chatd::store::{self, rooms::NewRoom};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

/// One-to-one rooms, each with its own two users; a batch takes the next ones of them.
const ROOMS: usize = 200;
/// Sends a batch unless `--batch` says otherwise: the writer's batches in `many-rooms` hold
/// about 20–250.
const BATCH: usize = 100;
/// Messages written before the measured rounds (the database's size matters: the indexes'
/// pages stop fitting SQLite's cache).
const PREFILL: usize = 50_000;
const ROUNDS: usize = 4;
const ROUND_SENDS: usize = 10_000;

/// CPU time of the whole process so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock id is a constant of libc.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Room `k` of `ROOMS`: users 2k+1 and 2k+2, the first of whom sends.
async fn pair_room(db: &DatabaseConnection, k: usize) -> Uuid {
    let (a, b) = (2 * k as i64 + 1, 2 * k as i64 + 2);
    let id = Uuid::new_v4();
    let txn = db.begin().await.expect("begin");
    let room = NewRoom {
        id,
        kind: RoomKind::OneToOneChat,
        creator: a,
        members: BTreeSet::from([a, b]),
        profile: None,
        cap: None,
        preferences: serde_json::json!({}),
    };
    store::rooms::create(&txn, room).await.expect("room");
    txn.commit().await.expect("commit");
    id
}

/// Batch number `n` of `size`: one message into each of the next `size` rooms, from its first
/// member.
fn batch(rooms: &[Uuid], n: usize, size: usize) -> Vec<Planned> {
    (0..size)
        .map(|i| {
            let k = (n * size + i) % rooms.len();
            Planned {
                message: NewMessage {
                    room_id: rooms[k],
                    sender_id: 2 * k as i64 + 1,
                    content: sanitize(&format!("{k} {n} a small chat message of realistic size")),
                    parent_message_id: None,
                    forwarded_from_id: None,
                    is_forwarded: false,
                    media: Vec::new(),
                    notification_type: Some(NotificationKind::NewMessage),
                },
                recipients: 1,
            }
        })
        .collect()
}

/// Writes batch `n` of `size` as the writer does, committed: on `direct` if given.
async fn write(
    db: &DatabaseConnection,
    direct: &mut Option<Direct>,
    rooms: &[Uuid],
    (n, size): (usize, usize),
    references: References,
) {
    let planned = batch(rooms, n, size);
    let (script, _) = create_many_script_with(db.get_database_backend(), &planned, references)
        .expect("one statement each");
    match direct {
        Some(direct) => script.run_direct(direct, db, None).await,
        None => script.run_committed(db, None).await,
    }
    .expect("committed");
}

fn main() {
    let pool = std::env::args().any(|a| a == "--pool");
    let mut args = std::env::args().skip_while(|a| a != "--batch").skip(1);
    let size: usize = args
        .next()
        .map(|n| n.parse().expect("--batch N"))
        .unwrap_or(BATCH)
        .clamp(1, ROOMS);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (settings, db, _file) = support::temp_database_settings().await;
        let mut direct = match pool {
            true => None,
            false => Direct::open(&settings.database).expect("the writer's connection"),
        };
        support::users(&db, 1..=2 * ROOMS as i64).await;
        let mut rooms = Vec::with_capacity(ROOMS);
        for k in 0..ROOMS {
            rooms.push(pair_room(&db, k).await);
        }
        let mut n = 0;
        while n * size < PREFILL {
            write(&db, &mut direct, &rooms, (n, size), References::ForeignKeys).await;
            n += 1;
        }
        let on = if direct.is_some() {
            "the writer's own connection"
        } else {
            "the pool's"
        };
        println!(
            "batches of {size} plain sends into {ROOMS} one-to-one rooms, {PREFILL} messages \
             before, on {on}; per send:"
        );
        println!("round  statements           CPU µs   wall µs   database messages");
        for round in 1..=ROUNDS {
            for references in [References::ForeignKeys, References::Checked] {
                let (cpu, wall) = (process_cpu(), Instant::now());
                let batches = ROUND_SENDS.div_ceil(size);
                for _ in 0..batches {
                    write(&db, &mut direct, &rooms, (n, size), references).await;
                    n += 1;
                }
                let sends = (batches * size) as f64;
                let cpu = (process_cpu() - cpu).as_secs_f64() * 1e6 / sends;
                let wall = wall.elapsed().as_secs_f64() * 1e6 / sends;
                println!(
                    "{round:5}  {:<18} {cpu:8.1}  {wall:8.1}   {}",
                    format!("{references:?}"),
                    n * size
                );
            }
        }
    });
}
