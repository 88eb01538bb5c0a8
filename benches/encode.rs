//! Encoding a `message.dispatch` for a fan-out to N recipients (2, 20, 100, 300). chatd
//! encodes once and hands every recipient the same bytes (`once`: one encode, N reference
//! counts); the baseline in the same run, `baseline_per_recipient`, encodes the dispatch for
//! every recipient.

use std::hint::black_box;

use chatd::protocol::server::{event, routed, MessageView, UserView};
use chatd::protocol::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion};
use uuid::Uuid;

const RECIPIENTS: [usize; 4] = [2, 20, 100, 300];

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
        std::sync::Arc::new(user),
        "Hello everyone, the build is green again 👋".into(),
        Timestamp(chrono::Utc::now()),
        false,
    )
}

fn encode(c: &mut Criterion) {
    let view = message();
    for n in RECIPIENTS {
        let mut group = c.benchmark_group(format!("encode/message_dispatch/{n}"));
        group.bench_function("baseline_per_recipient", |b| {
            b.iter(|| {
                (0..n)
                    .map(|_| routed(event::MESSAGE, black_box(&view)))
                    .collect::<Vec<_>>()
            })
        });
        group.bench_function("once", |b| {
            b.iter(|| {
                let frame = routed(event::MESSAGE, black_box(&view));
                (0..n).map(|_| frame.clone()).collect::<Vec<_>>()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
