//! The service's Prometheus metrics. Each [`Metrics`] has a registry of its own, so that several
//! servers in one process (the tests) keep separate numbers. Label values come from closed sets
//! (the spec's event names, error codes, statement kinds) and the hot-path handles are resolved
//! once here: recording is an atomic add, or a short bucket search for a histogram.
//!
//! Gauges that describe a population (open connections, live room actors) are not maintained on
//! every change; `GET /metrics` sets them from the owning maps just before it renders.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::auth::AuthError;
use crate::notifications::NotificationStats;
use crate::protocol::client::EVENT_TYPES;
use crate::protocol::errors::ChatError;

/// The `reason` label of a refused connection.
const AUTH_FAILURE_REASONS: [&str; 5] = [
    "missing",
    "invalid",
    "expired",
    "not_yet_valid",
    "bad_claims",
];

/// The `event` label of a frame that names no event of the spec (or is not JSON at all).
pub const UNKNOWN_EVENT: &str = "unknown";

/// What a database statement does, by its first keyword; for a statement that starts with
/// `WITH`, by the first keyword of its first `WITH` query (PostgreSQL's fused writes, whose
/// first part is the INSERT that SQLite's script of the same write starts with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    // The order is that of `ALL`, which indexes `Metrics::db_queries`.
    Select,
    Insert,
    Update,
    Delete,
    Other,
}

impl StatementKind {
    const ALL: [StatementKind; 5] = [
        StatementKind::Select,
        StatementKind::Insert,
        StatementKind::Update,
        StatementKind::Delete,
        StatementKind::Other,
    ];

    pub fn of(sql: &str) -> StatementKind {
        let mut sql = sql.trim_start();
        if sql.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("with")) {
            if let Some((_, first)) = sql.split_once('(') {
                sql = first.trim_start();
            }
        }
        let keyword = sql.get(..6).unwrap_or("");
        [
            ("select", StatementKind::Select),
            ("insert", StatementKind::Insert),
            ("update", StatementKind::Update),
            ("delete", StatementKind::Delete),
        ]
        .into_iter()
        .find(|(k, _)| keyword.eq_ignore_ascii_case(k))
        .map_or(StatementKind::Other, |(_, kind)| kind)
    }

    fn label(self) -> &'static str {
        match self {
            StatementKind::Select => "select",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::Other => "other",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    /// Set from the presence map at scrape time.
    pub connections_open: IntGauge,
    /// Set from the room registry at scrape time.
    pub room_actors_live: IntGauge,
    events: IntCounterVec,
    /// `events` with outcome `ok`, indexed as [`EVENT_TYPES`]: every frame handled counts one,
    /// and looking a label pair up hashes both strings and takes the vector's lock.
    events_ok: Vec<IntCounter>,
    dispatches: IntCounter,
    deliveries: IntCounter,
    queue_fullness: Histogram,
    slow_consumer_closes: IntCounter,
    /// Indexed by `StatementKind as usize`.
    db_queries: Vec<Histogram>,
    db_errors: IntCounter,
    send_commit: Histogram,
    send_dispatch: Histogram,
    auth_failures: IntCounterVec,
}

/// Seconds, 100 µs to 10 s.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ]
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("chatd".into()), None)?;
        let connections_open = IntGauge::new("connections_open", "Open WebSocket connections.")?;
        let room_actors_live = IntGauge::new(
            "room_actors_live",
            "Room actors running (one per room in use since start-up).",
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "events_total",
                "Client frames handled, by event type and outcome (ok, or the error code sent \
                 back; event `unknown` when the frame names no event of the spec).",
            ),
            &["event", "outcome"],
        )?;
        let dispatches = IntCounter::new(
            "dispatches_total",
            "Server frames fanned out to an audience (each encoded once).",
        )?;
        let deliveries = IntCounter::new(
            "deliveries_total",
            "Server frames queued to a connection (a dispatch to n connections counts n).",
        )?;
        let queue_fullness = Histogram::with_opts(
            HistogramOpts::new(
                "session_queue_fullness",
                "Share of the fullest outbound queue (mailboxes.session) a dispatch was queued \
                 to, one sample per dispatch; at 1 a connection was closed with 1013.",
            )
            .buckets(vec![0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
        )?;
        let slow_consumer_closes = IntCounter::new(
            "slow_consumer_closes_total",
            "Connections closed with 1013 because their outbound queue was full.",
        )?;
        let db_query_vec = HistogramVec::new(
            HistogramOpts::new(
                "db_query_duration_seconds",
                "Database statement latency, by statement kind.",
            )
            .buckets(latency_buckets()),
            &["statement"],
        )?;
        let db_queries = StatementKind::ALL
            .iter()
            .map(|kind| db_query_vec.get_metric_with_label_values(&[kind.label()]))
            .collect::<Result<Vec<_>, _>>()?;
        let db_errors =
            IntCounter::new("db_query_errors_total", "Database statements that failed.")?;
        let send_vec = HistogramVec::new(
            HistogramOpts::new(
                "message_send_duration_seconds",
                "message.send from its arrival to `commit` (stored durably) and to `dispatch` \
                 (queued for every connection of the room).",
            )
            .buckets(latency_buckets()),
            &["stage"],
        )?;
        let send_commit = send_vec.get_metric_with_label_values(&["commit"])?;
        let send_dispatch = send_vec.get_metric_with_label_values(&["dispatch"])?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "auth_failures_total",
                "Connections refused with 4001, by reason (missing; invalid: malformed or \
                 signed with another secret; expired; not_yet_valid; bad_claims).",
            ),
            &["reason"],
        )?;

        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(room_actors_live.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(dispatches.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(queue_fullness.clone()))?;
        registry.register(Box::new(slow_consumer_closes.clone()))?;
        registry.register(Box::new(db_query_vec))?;
        registry.register(Box::new(db_errors.clone()))?;
        registry.register(Box::new(send_vec))?;
        registry.register(Box::new(auth_failures.clone()))?;

        // Every event of the spec shows up from the first scrape, at zero.
        let events_ok = EVENT_TYPES
            .iter()
            .map(|event| events.get_metric_with_label_values(&[event, "ok"]))
            .collect::<Result<Vec<_>, _>>()?;
        for reason in AUTH_FAILURE_REASONS {
            auth_failures.get_metric_with_label_values(&[reason])?;
        }
        Ok(Metrics {
            registry,
            connections_open,
            room_actors_live,
            events,
            events_ok,
            dispatches,
            deliveries,
            queue_fullness,
            slow_consumer_closes,
            db_queries,
            db_errors,
            send_commit,
            send_dispatch,
            auth_failures,
        })
    }

    /// One client frame handled: `event` is a name of [`EVENT_TYPES`] or [`UNKNOWN_EVENT`].
    pub fn event(&self, event: &'static str, error: Option<&ChatError>) {
        if error.is_none() {
            if let Some(i) = EVENT_TYPES.iter().position(|name| *name == event) {
                return self.events_ok[i].inc();
            }
        }
        let outcome = match error.map(ChatError::code) {
            None => "ok",
            Some(None) => "invalid_event_type",
            Some(Some(4002)) => "4002",
            Some(Some(4003)) => "4003",
            Some(Some(4004)) => "4004",
            Some(Some(4005)) => "4005",
            Some(Some(4006)) => "4006",
            Some(Some(_)) => "error",
        };
        self.events.with_label_values(&[event, outcome]).inc();
    }

    /// One dispatch fanned out, queued to `deliveries` connections.
    pub fn dispatched(&self, deliveries: u64) {
        self.dispatches.inc();
        self.deliveries.inc_by(deliveries);
    }

    /// A dispatch is being queued; the fullest of its connections' queues already held
    /// `queued` of `capacity` frames.
    pub fn queue_depth(&self, queued: usize, capacity: usize) {
        self.queue_fullness
            .observe(queued as f64 / capacity.max(1) as f64);
    }

    pub fn slow_consumer_closed(&self) {
        self.slow_consumer_closes.inc();
    }

    pub fn db_query(&self, kind: StatementKind, elapsed: Duration, failed: bool) {
        if let Some(histogram) = self.db_queries.get(kind as usize) {
            histogram.observe(elapsed.as_secs_f64());
        }
        if failed {
            self.db_errors.inc();
        }
    }

    /// A `message.send` committed `to_commit` after it arrived, and was queued for every
    /// connection of its room `to_dispatch` after it arrived.
    pub fn message_sent(&self, to_commit: Duration, to_dispatch: Duration) {
        self.send_commit.observe(to_commit.as_secs_f64());
        self.send_dispatch.observe(to_dispatch.as_secs_f64());
    }

    pub fn auth_failed(&self, err: &AuthError) {
        let reason = match err {
            AuthError::Missing => "missing",
            AuthError::Invalid(_) => "invalid",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::NoUserId(_)
            | AuthError::TimeNotANumber(_)
            | AuthError::BadProfileClaim { .. } => "bad_claims",
        };
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    /// Exports the `NotificationActor`'s own counters (push deliveries, drops, retries), read
    /// from its atomics at each scrape.
    pub fn watch_notifications(
        &self,
        stats: Arc<NotificationStats>,
    ) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(NotificationCounters::new(stats)?))
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// Which atomic of [`NotificationStats`] a counter mirrors.
type StatField = fn(&NotificationStats) -> &AtomicU64;

/// Prometheus counters that mirror [`NotificationStats`]: the notification side keeps plain
/// atomics (no metrics dependency on its paths) and a scrape catches the counters up.
struct NotificationCounters {
    stats: Arc<NotificationStats>,
    counters: Vec<(IntCounter, StatField)>,
}

impl NotificationCounters {
    fn new(stats: Arc<NotificationStats>) -> Result<NotificationCounters, prometheus::Error> {
        let fields: [(&str, &str, StatField); 6] = [
            (
                "notification_notices_dropped_total",
                "Committed notifications whose push notice was dropped (the notification \
                 actor's mailbox was full).",
                |s| &s.notices_dropped,
            ),
            (
                "push_queued_total",
                "Pushes for offline recipients handed to the webhook queue.",
                |s| &s.push_queued,
            ),
            (
                "push_dropped_total",
                "Pushes dropped because the webhook queue was full.",
                |s| &s.push_dropped,
            ),
            (
                "push_delivered_total",
                "Pushes the webhook accepted (2xx).",
                |s| &s.push_delivered,
            ),
            (
                "push_failed_total",
                "Pushes given up on (a 4xx answer, or every attempt failed).",
                |s| &s.push_failed,
            ),
            (
                "push_attempts_total",
                "Webhook requests made, first attempts and retries.",
                |s| &s.push_attempts,
            ),
        ];
        let mut counters = Vec::with_capacity(fields.len());
        for (name, help, field) in fields {
            counters.push((IntCounter::new(name, help)?, field));
        }
        Ok(NotificationCounters { stats, counters })
    }
}

impl Collector for NotificationCounters {
    fn desc(&self) -> Vec<&Desc> {
        self.counters.iter().flat_map(|(c, _)| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.counters
            .iter()
            .flat_map(|(counter, field)| {
                let now = NotificationStats::get(field(&self.stats));
                // The atomics only grow; catch the counter up to them.
                counter.inc_by(now.saturating_sub(counter.get()));
                counter.collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_by_their_first_keyword() {
        assert_eq!(StatementKind::of("SELECT 1"), StatementKind::Select);
        assert_eq!(StatementKind::of("  insert into x"), StatementKind::Insert);
        assert_eq!(StatementKind::of("UPDATE x"), StatementKind::Update);
        assert_eq!(StatementKind::of("delete from x"), StatementKind::Delete);
        assert_eq!(StatementKind::of("PRAGMA x"), StatementKind::Other);
        assert_eq!(StatementKind::of("é"), StatementKind::Other);
        assert_eq!(
            StatementKind::of("WITH s0 AS (\nINSERT INTO x VALUES (1)\n)\nUPDATE y"),
            StatementKind::Insert
        );
        assert_eq!(StatementKind::of("with"), StatementKind::Other);
    }

    #[test]
    fn error_outcomes_are_their_wire_codes() {
        let m = Metrics::new().unwrap();
        m.event("room.info", Some(&ChatError::NotFound));
        m.event("message.react", Some(&ChatError::InvalidEventType));
        m.event("room.info", None);
        let text = m.render().unwrap();
        for line in [
            r#"chatd_events_total{event="room.info",outcome="4004"} 1"#,
            r#"chatd_events_total{event="message.react",outcome="invalid_event_type"} 1"#,
            r#"chatd_events_total{event="room.info",outcome="ok"} 1"#,
            r#"chatd_events_total{event="room.list",outcome="ok"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
