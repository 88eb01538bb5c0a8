//! A `RoomActor` fanning one encoded frame out to N local sessions (2, 20, 100, 300): the
//! registry call, the hop to the rooms arbiter, the member loop over `Presence` (each frame
//! onto the session's outbox, a flush message when none is pending). Sessions are lightweight
//! actors that count frames (no socket), on the system arbiter as sessions run on the HTTP
//! workers; the room actor runs on an arbiter of its own, as in the server. Messages are pipelined: `iters` fan-outs,
//! then the wait until every session has counted every frame.
//!
//! Baseline in the same run, `baseline_presence_direct`: the same deliveries handed straight
//! to `Presence` from the caller, without the registry and the room actor, so the difference
//! is what the actor hop costs per fan-out.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chatd::auth::Identity;
use chatd::config::Settings;
use chatd::metrics::Metrics;
use chatd::notifications::Notices;
use chatd::presence::{Deliver, Outbound, Outbox, Presence};
use chatd::protocol::server::{event, routed, MessageView, UserView};
use chatd::protocol::Timestamp;
use chatd::rooms::messages::Fanout;
use chatd::rooms::RoomRegistry;
use chatd::store;
use chatd::store::writer::{Writer, WriterOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::sync::Notify;
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

const SESSIONS: [usize; 4] = [2, 20, 100, 300];

/// Frames seen by every counting session together, and a wake-up once `target` is reached.
struct Tally {
    seen: AtomicU64,
    overloaded: AtomicU64,
    target: AtomicU64,
    reached: Notify,
}

/// A session stand-in: counts the frames it is sent.
struct Counter(Arc<Tally>, Arc<Outbox>);

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Outbound> for Counter {
    type Result = ();

    fn handle(&mut self, msg: Outbound, _ctx: &mut Self::Context) {
        match msg {
            Outbound::Flush => {
                let frames = self.1.take_all().len() as u64;
                let seen = self.0.seen.fetch_add(frames, Relaxed) + frames;
                if seen >= self.0.target.load(Relaxed) {
                    self.0.reached.notify_one();
                }
            }
            Outbound::Overloaded => {
                self.0.overloaded.fetch_add(1, Relaxed);
            }
            // Shutdown notices do not happen in the bench.
            _ => {}
        }
    }
}

impl Tally {
    /// Waits until every frame of this round has been counted.
    async fn wait_for(&self, target: u64) {
        while self.seen.load(Relaxed) < target {
            self.reached.notified().await;
        }
    }
}

fn frame() -> chatd::protocol::server::Frame {
    let sender = UserView {
        id: 1,
        username: "user1".into(),
        email: "user1@example.com".into(),
        first_name: "User".into(),
        last_name: "1".into(),
    };
    let view = MessageView::fresh(
        Uuid::new_v4(),
        Uuid::new_v4(),
        std::sync::Arc::new(sender),
        "hello from sender 0001, a small chat message of realistic size".into(),
        Timestamp(chrono::Utc::now()),
        false,
    );
    routed(event::MESSAGE, &view)
}

/// A GroupChat of users 1..=n in a fresh migrated database.
async fn room_of(db: &sea_orm::DatabaseConnection, n: usize) -> Uuid {
    for id in 1..=n as i64 {
        let who = Identity {
            user_id: id,
            username: Some(format!("user{id}")),
            email: None,
            first_name: None,
            last_name: None,
        };
        store::users::upsert_from_identity(db, db, &who)
            .await
            .expect("user");
    }
    support::group_of(db, n, &format!("fanout {n}")).await
}

fn fanout(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("chatd-bench-fanout-{}.db", Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let settings = Settings::load_with(None, &[("database.url", url.as_str())]).expect("settings");
    let system = actix::System::new();
    let rooms_arbiter = Arbiter::new();
    let writes_arbiter = Arbiter::new();
    let db = system.block_on(async {
        let db = store::connect(&settings.database).await.expect("connect");
        store::migrate(&db).await.expect("migrate");
        db
    });
    let frame = frame();
    // The server's metrics are part of its fan-out path, so the bench keeps them.
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    for n in SESSIONS {
        let tally = Arc::new(Tally {
            seen: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            target: AtomicU64::new(0),
            reached: Notify::new(),
        });
        // Pipelined fan-outs queue up in the outboxes; a full one would close a real session.
        let presence = Arc::new(Presence::new(metrics.clone(), 1 << 24));
        let (room_id, registry) = system.block_on(async {
            let room_id = room_of(&db, n).await;
            for user in 1..=n as i64 {
                let outbox = Arc::new(Outbox::default());
                let session = Counter(tally.clone(), outbox.clone()).start();
                presence.register(user, Uuid::new_v4(), session.recipient(), outbox);
            }
            let delivery: Arc<dyn Deliver> = presence.clone();
            let direct = store::direct::Direct::open(&settings.database).expect("direct");
            let (writer, _stop) = Writer::launch(
                &writes_arbiter.handle(),
                db.clone(),
                direct,
                None,
                WriterOptions {
                    inline: false,
                    ..WriterOptions::from_settings(&settings.database)
                },
            );
            let registry = RoomRegistry::new(
                db.clone(),
                writer,
                delivery,
                Notices::off(),
                rooms_arbiter.handle(),
                settings.rooms.actor_thread,
                settings.mailboxes.room,
                Duration::from_secs(3600),
            );
            (room_id, registry)
        });
        let members: Vec<i64> = (1..=n as i64).collect();

        let mut group = c.benchmark_group(format!("fanout/{n}_sessions"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("baseline_presence_direct", |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let target = tally.seen.load(Relaxed) + iters * n as u64;
                    tally.target.store(target, Relaxed);
                    let started = Instant::now();
                    for _ in 0..iters {
                        presence.to_users(&mut members.iter().copied(), &frame);
                    }
                    tally.wait_for(target).await;
                    started.elapsed()
                })
            })
        });
        group.bench_function("room_actor", |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let target = tally.seen.load(Relaxed) + iters * n as u64;
                    tally.target.store(target, Relaxed);
                    let started = Instant::now();
                    for _ in 0..iters {
                        let sent = registry
                            .call(
                                room_id,
                                Fanout {
                                    frame: frame.clone(),
                                },
                            )
                            .await;
                        assert!(sent.is_ok(), "fan-out refused: {sent:?}");
                    }
                    tally.wait_for(target).await;
                    started.elapsed()
                })
            })
        });
        group.finish();
        assert_eq!(tally.overloaded.load(Relaxed), 0, "no session fell behind");
    }
    rooms_arbiter.stop();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, fanout);
criterion_main!(benches);
