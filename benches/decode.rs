//! Decoding a client frame into a `ClientEvent`, per event kind: the first thing every frame
//! costs. Each kind's group has a baseline in the same run, `baseline_serde_value`: a bare
//! `serde_json` parse of the same bytes into a `Value`, which decoding starts with; the
//! difference is what the typed checks (ids, field rules, error order) add.

use std::hint::black_box;

use chatd::protocol::client::ClientEvent;
use criterion::{criterion_group, criterion_main, Criterion};

const FRAMES: [(&str, &str); 6] = [
    (
        "session.heartbeat",
        r#"{"event_type": "session.heartbeat", "data": {}}"#,
    ),
    (
        "message.send",
        r#"{"event_type": "message.send", "data": {"room_id": "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d", "content": "Hello everyone, the build is green again \ud83d\udc4b"}}"#,
    ),
    (
        "message.acknowledged",
        r#"{"event_type": "message.acknowledged", "data": {"message_id": ["5d0c6a0e-0c3e-4f57-9f5a-2d1b8f8e9a10", "6e1d7b1f-1d4f-4a68-8a6b-3e2c9f9f0b21", "7f2e8c2a-2e5a-4b79-9b7c-4f3daf0a1c32"]}}"#,
    ),
    (
        "room.create",
        r#"{"event_type": "room.create", "data": {"type": "GroupChat", "name": "Release crew", "description": "Shipping v2", "participants": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], "max_participants": 50, "extra_fields": {"property": {"preferences": {"mute": false}}}}}"#,
    ),
    (
        "room.info",
        r#"{"event_type": "room.info", "data": {"room_id": "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d"}}"#,
    ),
    ("room.list", r#"{"event_type": "room.list", "data": {}}"#),
];

fn decode(c: &mut Criterion) {
    for (kind, frame) in FRAMES {
        // A bench of a frame that does not decode would measure the error path.
        if let Err(e) = ClientEvent::decode(frame) {
            panic!("{kind}: the bench frame must decode: {e:?}");
        }
        let mut group = c.benchmark_group(format!("decode/{kind}"));
        group.bench_function("baseline_serde_value", |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(frame)))
        });
        group.bench_function("typed", |b| {
            b.iter(|| ClientEvent::decode(black_box(frame)))
        });
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
