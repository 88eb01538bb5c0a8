//! `group-fanout`: one GroupChat of M members; the first S members send, each keeping W
//! messages in flight; every member receives every message (its sender included).

use serde_json::{json, Map, Value};

use crate::client;
use crate::options::Options;
use crate::report::Column;
use crate::server::{Flavor, Server, CEILING_ROOM};
use crate::traffic::{self, Plan, Room};

pub const DEFAULT_WINDOW: usize = 8;

pub const COLUMNS: &[Column] = &[
    Column {
        header: "msg/s",
        path: "msgs_per_s",
    },
    Column {
        header: "deliveries/s",
        path: "deliveries_per_s",
    },
    Column {
        header: "p50 ms",
        path: "latency_ms/p50",
    },
    Column {
        header: "p90 ms",
        path: "latency_ms/p90",
    },
    Column {
        header: "p99 ms",
        path: "latency_ms/p99",
    },
    Column {
        header: "max ms",
        path: "latency_ms/max",
    },
    Column {
        header: "lost",
        path: "lost",
    },
    Column {
        header: "dup",
        path: "duplicated",
    },
    Column {
        header: "reorder",
        path: "out_of_order",
    },
    Column {
        header: "errors",
        path: "errors",
    },
    Column {
        header: "srv CPU s",
        path: "server_cpu_s",
    },
    Column {
        header: "cli CPU s",
        path: "client_cpu_s",
    },
    Column {
        header: "peak RSS KiB",
        path: "server_peak_rss_kib",
    },
];

pub const HEADLINE: &[&str] = &[
    "msgs_per_s",
    "deliveries_per_s",
    "latency_ms/p50",
    "latency_ms/p99",
];

pub fn params(o: &Options) -> Value {
    json!({"members": o.members, "senders": o.senders,
           "window": o.window.unwrap_or(DEFAULT_WINDOW),
           "duration_s": o.duration, "warmup_s": o.warmup})
}

pub async fn run(server: &Server, o: &Options) -> Result<Map<String, Value>, String> {
    let users: Vec<i64> = (1..=o.members as i64).collect();
    let mut conns = client::open_all(server, &users, o.connect_concurrency).await?;
    let room = match server.flavor {
        Flavor::Ceiling => {
            client::ceiling_ready(server, conns.len()).await?;
            CEILING_ROOM.to_string()
        }
        Flavor::Chatd | Flavor::Reference => {
            let name = format!("load {}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            client::create_group(&mut conns, &users, &name).await?
        }
    };
    let plan = Plan {
        rooms: vec![Room {
            id: room,
            members: (0..conns.len()).collect(),
        }],
        senders: (0..o.senders).map(|s| (s, 0)).collect(),
        users,
        window: o.window.unwrap_or(DEFAULT_WINDOW),
        warmup: o.warmup,
        duration: o.duration,
        heartbeat: o.heartbeat,
    };
    let label = format!("{} group-fanout", server.name);
    Ok(traffic::run(conns, plan, server.pid, &label).await)
}
