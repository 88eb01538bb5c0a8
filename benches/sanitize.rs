//! `sanitize()`, the wrapper around ammonia that keeps bleach's output (src/sanitize.rs), on
//! four kinds of message content.
//!
//! Each group has its baselines in the same run: `baseline_ammonia_only` is our configured
//! ammonia `Builder` without the wrapper, so the difference is what the wrapper costs (marking
//! references, writing bleach's escaping, re-checking an `href` that keeps a reference, and
//! skipping the parser for plain text); `baseline_ammonia_default` is `ammonia::clean`, the
//! library's defaults, for scale.
//!
//! `sanitize/guard/*` times the linear check that refuses crafted markup before parsing it
//! (`may_outgrow`, src/sanitize/growth.rs) against the sanitising it saves (crafted: `<p>`, 300
//! unclosed `<b class=N>`, then `<p>x` up to 10,000 characters) or adds to (ordinary markup).

use std::hint::black_box;

use chatd::sanitize::{ammonia_only, may_outgrow, sanitize};
use criterion::{criterion_group, criterion_main, Criterion};

const INPUTS: [(&str, &str); 4] = [
    (
        "plain",
        "Hello everyone, the build is green again and the release goes out at five.",
    ),
    (
        "entities",
        "Fish &amp; chips &copy; 2024 &mdash; caf&eacute; &#x1F600; &bogus; and a < b & c",
    ),
    (
        "markup",
        r#"<p>Release <b>notes</b> for <a href="https://example.com/releases?v=2&amp;lang=en" title="notes" target="_blank">v2</a></p><ul><li><i>fast</i> &amp; <em>safe</em></li><li>see <a href="https://example.com/?a=1&b=2">changes</a><script>alert(1)</script></li></ul><div onclick="x()">bye &hellip;</div>"#,
    ),
    (
        "markup_without_references",
        r#"<p>Release <b>notes</b> for <a href="https://example.com/releases" title="notes" target="_blank">v2</a></p><ul><li><i>fast</i> and <em>safe</em></li><li>see <a href="https://example.com/changes">changes</a><script>alert(1)</script></li></ul><div onclick="x()">bye</div>"#,
    ),
];

fn sanitize_inputs(c: &mut Criterion) {
    for (name, input) in INPUTS {
        let mut group = c.benchmark_group(format!("sanitize/{name}"));
        group.bench_function("baseline_ammonia_default", |b| {
            b.iter(|| ammonia::clean(black_box(input)))
        });
        group.bench_function("baseline_ammonia_only", |b| {
            b.iter(|| ammonia_only(black_box(input)))
        });
        group.bench_function("chatd", |b| b.iter(|| sanitize(black_box(input))));
        group.finish();
    }
}

fn guard(c: &mut Criterion) {
    let mut crafted: String = (0..300).map(|i| format!("<b class={i}>")).collect();
    crafted.insert_str(0, "<p>");
    while crafted.len() + 4 <= 10_000 {
        crafted.push_str("<p>x");
    }
    // The bound a 10,000-character limit gives the check (events::messages::content).
    let most = 4 * 6 * 10_000;
    let mut group = c.benchmark_group("sanitize/guard");
    group.sample_size(10);
    for (name, input) in [("markup", INPUTS[2].1), ("crafted", crafted.as_str())] {
        group.bench_function(format!("{name}/may_outgrow"), |b| {
            b.iter(|| may_outgrow(black_box(input), most))
        });
        group.bench_function(format!("{name}/baseline_sanitize"), |b| {
            b.iter(|| sanitize(black_box(input)))
        });
    }
    group.finish();
}

criterion_group!(benches, sanitize_inputs, guard);
criterion_main!(benches);
