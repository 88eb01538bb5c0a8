//! Hot path of every event: decoding a client frame, and encoding a dispatch for fan-out.
//!
//! Each group carries its own baseline measured in the same run, so the numbers read as
//! ratios: `decode/typed` against a bare `serde_json` parse of the same bytes, and
//! `fanout_encode/once` (what chatd does: encode once, share the bytes) against encoding the
//! same dispatch for every recipient.

use std::hint::black_box;

use chatd::protocol::client::ClientEvent;
use chatd::protocol::server::{event, routed, MessageView, UserView};
use chatd::protocol::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion};
use uuid::Uuid;

const SEND_FRAME: &str = r#"{"event_type": "message.send", "data": {"room_id": "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d", "content": "Hello everyone, the build is green again \ud83d\udc4b"}}"#;
const RECIPIENTS: usize = 20;

fn message() -> MessageView {
    let user = UserView {
        id: 1,
        username: "alice".into(),
        email: "alice@example.com".into(),
        first_name: "Alice".into(),
        last_name: "Smith".into(),
    };
    MessageView::fresh(
        Uuid::new_v4(),
        Uuid::new_v4(),
        user,
        "Hello everyone, the build is green again 👋".into(),
        Timestamp(chrono::Utc::now()),
        false,
    )
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.bench_function("baseline_serde_value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(SEND_FRAME)).unwrap())
    });
    group.bench_function("typed", |b| {
        b.iter(|| ClientEvent::decode(black_box(SEND_FRAME)).unwrap())
    });
    group.finish();
}

fn fanout_encode(c: &mut Criterion) {
    let view = message();
    let mut group = c.benchmark_group("fanout_encode");
    group.bench_function("baseline_per_recipient", |b| {
        b.iter(|| {
            (0..RECIPIENTS)
                .map(|_| routed(event::MESSAGE, black_box(&view)))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("once", |b| {
        b.iter(|| {
            let frame = routed(event::MESSAGE, black_box(&view));
            (0..RECIPIENTS).map(|_| frame.clone()).collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, decode, fanout_encode);
criterion_main!(benches);
