//! What the metrics cost on the per-frame path: counting an event and accounting a delivery,
//! against decoding the frame they are about (work every event does anyway) in the same run.

use std::hint::black_box;
use std::time::Duration;

use chatd::metrics::{Metrics, StatementKind};
use chatd::protocol::client::ClientEvent;
use criterion::{criterion_group, criterion_main, Criterion};

const SEND_FRAME: &str = r#"{"event_type": "message.send", "data": {"room_id": "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d", "content": "Hello everyone, the build is green again \ud83d\udc4b"}}"#;

fn record(c: &mut Criterion) {
    let metrics = Metrics::new().expect("metrics");
    let mut group = c.benchmark_group("metrics");
    group.bench_function("baseline_decode_frame", |b| {
        b.iter(|| ClientEvent::decode(black_box(SEND_FRAME)).unwrap())
    });
    group.bench_function("count_event", |b| {
        b.iter(|| metrics.event(black_box("message.send"), None))
    });
    group.bench_function("account_delivery", |b| {
        b.iter(|| {
            metrics.queue_depth(black_box(3), 256);
            metrics.dispatched(black_box(2));
        })
    });
    group.bench_function("time_query", |b| {
        b.iter(|| {
            metrics.db_query(
                StatementKind::of(black_box("SELECT \"rooms\".\"id\" FROM \"rooms\"")),
                Duration::from_micros(80),
                false,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
