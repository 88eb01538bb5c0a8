//! `many-rooms`: P one-to-one rooms at once; in each, one user sends with W messages in
//! flight to the other. Every message is its own durable write into its own room, so this
//! is the write path's throughput with fan-out kept minimal (two deliveries per message).

use serde_json::{json, Map, Value};

use crate::client;
use crate::options::Options;
use crate::server::Server;
use crate::traffic::{self, Plan, Room};

pub const DEFAULT_WINDOW: usize = 4;

pub fn params(o: &Options) -> Value {
    json!({"pairs": o.pairs, "window": o.window.unwrap_or(DEFAULT_WINDOW),
           "duration_s": o.duration, "warmup_s": o.warmup})
}

pub async fn run(server: &Server, o: &Options) -> Result<Map<String, Value>, String> {
    // Pair k is users 2k+1 and 2k+2 (as the reference's seed numbers them).
    let users: Vec<i64> = (1..=2 * o.pairs as i64).collect();
    let mut conns = client::open_all(server, &users, o.connect_concurrency).await?;
    let mut rooms = Vec::with_capacity(o.pairs);
    for (k, pair) in conns.chunks_mut(2).enumerate() {
        let [a, b] = pair else {
            return Err("connections come in pairs".into());
        };
        let id = client::one_to_one(a, b, users[2 * k + 1]).await?;
        rooms.push(Room {
            id,
            members: vec![2 * k, 2 * k + 1],
        });
    }
    let plan = Plan {
        senders: (0..o.pairs).map(|k| (2 * k, k)).collect(),
        rooms,
        users,
        window: o.window.unwrap_or(DEFAULT_WINDOW),
        warmup: o.warmup,
        duration: o.duration,
        heartbeat: o.heartbeat,
    };
    let label = format!("{} many-rooms", server.name);
    Ok(traffic::run(conns, plan, server.pid, &label).await)
}
