//! `cargo bench --bench load`: end-to-end load scenarios over real WebSockets, speaking only
//! the protocol, with the same workload run against baselines in the same invocation.
//!
//! ```text
//! cargo bench --bench load                                   # group-fanout against chatd
//! cargo bench --bench load -- --scenario all --baseline-ceiling ../shared/ceiling
//! cargo bench --bench load -- --scenario group-fanout --members 20 --senders 1 --window 1 \
//!     --baseline-url ws://127.0.0.1:8001/messaging/ --baseline-tokens /tmp/chat-reference/var/tokens.json
//! cargo bench --bench load -- --help
//! ```
//!
//! By default every scenario starts the chatd binary as a child process on a fresh temporary
//! SQLite database and a free port, so the server's CPU seconds and peak RSS (from /proc) are
//! its own and not the load client's. Each (scenario, server) pair gets a fresh server.
//! docs/performance.md has the scenarios, the commands and the figures.

mod client;
mod group_fanout;
mod history;
mod idle;
mod many_rooms;
mod options;
mod receipts;
mod report;
mod server;
mod storm;
mod traffic;

use std::path::PathBuf;

use serde_json::Value;

use options::{Options, Primary, Scenario};
use report::{Column, Run, ScenarioReport, Status};
use server::{proc, Flavor, Server};

/// One server a scenario runs against; each run starts (or attaches to) it afresh.
enum Target {
    Primary,
    Ceiling(PathBuf, String),
    Reference,
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Primary => "chatd".into(),
            Target::Ceiling(_, write) => format!("ceiling ({write})"),
            Target::Reference => "reference".into(),
        }
    }

    fn flavor(&self) -> Flavor {
        match self {
            Target::Primary => Flavor::Chatd,
            Target::Ceiling(..) => Flavor::Ceiling,
            Target::Reference => Flavor::Reference,
        }
    }

    fn start(&self, o: &Options) -> Result<Server, String> {
        match (self, &o.primary, &o.reference) {
            (Target::Primary, Primary::Spawn { settings }, _) => Server::start_chatd(settings),
            (Target::Primary, Primary::Running { url, secret, pid }, _) => {
                Server::running_chatd(url, secret, *pid)
            }
            (Target::Ceiling(binary, write), _, _) => Server::start_ceiling(binary, write),
            (Target::Reference, _, Some((url, tokens, pid))) => {
                Server::reference(url, tokens, *pid)
            }
            (Target::Reference, _, None) => Err("no --baseline-url".into()),
        }
    }
}

/// Why a server cannot run a scenario, if it cannot.
fn not_applicable(scenario: Scenario, target: &Target, o: &Options) -> Option<&'static str> {
    match (scenario, target.flavor()) {
        (Scenario::ManyRooms, Flavor::Ceiling) => {
            Some("ceiling-server has one room: every connection would get every message")
        }
        (Scenario::ReconnectStorm, Flavor::Ceiling) => {
            Some("ceiling-server keeps no notifications")
        }
        (Scenario::ReconnectStorm, Flavor::Reference) => {
            Some("the reference resets connections when many handshakes arrive at once")
        }
        (Scenario::History, Flavor::Ceiling | Flavor::Reference) => {
            Some("the room is seeded through the database of a chatd started by this bench")
        }
        (Scenario::Receipts, Flavor::Ceiling) => Some("ceiling-server echoes message.send only"),
        (Scenario::History, Flavor::Chatd) if matches!(o.primary, Primary::Running { .. }) => {
            Some("the room is seeded through the database of a chatd started by this bench")
        }
        _ => None,
    }
}

/// Runs one scenario against one server, started afresh for it.
async fn run_on(scenario: Scenario, size: usize, target: &Target, o: &Options) -> Run {
    let name = target.name();
    if let Some(reason) = not_applicable(scenario, target, o) {
        return Run::not(&name, Status::NotApplicable, reason);
    }
    let mut server = match target.start(o) {
        Ok(s) => s,
        Err(e) => return Run::not(&name, Status::Failed, e),
    };
    let result = match scenario {
        Scenario::GroupFanout => group_fanout::run(&server, o).await.map(Ok),
        Scenario::ManyRooms => many_rooms::run(&server, o).await.map(Ok),
        Scenario::IdleConnections => idle::run(&server, o, size).await.map(Ok),
        Scenario::ReconnectStorm => storm::run(&server, o).await.map(Ok),
        Scenario::History => history::run(&server, o).await,
        Scenario::Receipts => receipts::run(&server, o).await.map(Ok),
    };
    let peak = server.pid.and_then(proc::peak_rss_kib);
    let problems = server.log_problems();
    server.stop();
    match result {
        Ok(Ok(mut metrics)) => {
            metrics.insert("server_peak_rss_kib".into(), peak.into());
            if !problems.is_empty() {
                metrics.insert("server_log_warnings".into(), problems.len().into());
                let first: Vec<_> = problems.into_iter().take(3).collect();
                metrics.insert("server_log_samples".into(), first.into());
            }
            Run::ok(&name, metrics)
        }
        Ok(Err(pending)) => Run::not(&name, Status::Pending, pending),
        Err(e) => Run::not(&name, Status::Failed, e),
    }
}

struct Shape {
    title: String,
    params: Value,
    columns: &'static [Column],
    headline: &'static [&'static str],
}

fn shape(scenario: Scenario, size: usize, o: &Options) -> Shape {
    let window = |default| o.window.unwrap_or(default);
    match scenario {
        Scenario::GroupFanout => Shape {
            title: format!(
                "one GroupChat, {} members, {} senders, window {}; {} s measured after {} s warm-up",
                o.members,
                o.senders,
                window(group_fanout::DEFAULT_WINDOW),
                o.duration,
                o.warmup
            ),
            params: group_fanout::params(o),
            columns: group_fanout::COLUMNS,
            headline: group_fanout::HEADLINE,
        },
        Scenario::ManyRooms => Shape {
            title: format!(
                "{} one-to-one rooms, one sender each, window {}; {} s measured after {} s warm-up",
                o.pairs,
                window(many_rooms::DEFAULT_WINDOW),
                o.duration,
                o.warmup
            ),
            params: many_rooms::params(o),
            columns: group_fanout::COLUMNS,
            headline: group_fanout::HEADLINE,
        },
        Scenario::IdleConnections => Shape {
            title: format!(
                "{size} connections held {} s, a heartbeat every {} s",
                o.hold, o.heartbeat
            ),
            params: idle::params(o, size),
            columns: idle::COLUMNS,
            headline: idle::HEADLINE,
        },
        Scenario::ReconnectStorm => Shape {
            title: format!(
                "{} users with {} pending notifications each reconnect at once",
                o.users, o.pending
            ),
            params: storm::params(o),
            columns: storm::COLUMNS,
            headline: storm::HEADLINE,
        },
        Scenario::History => Shape {
            title: format!(
                "room.messages through {} messages, {} per page",
                o.history_messages, o.page_size
            ),
            params: history::params(o),
            columns: history::COLUMNS,
            headline: history::HEADLINE,
        },
        Scenario::Receipts => Shape {
            title: format!(
                "one GroupChat of {} members, {} message(s) a round answered with `{}`; {} s measured after {} s warm-up",
                receipts::members(o),
                o.batch,
                o.event.name(),
                o.duration,
                o.warmup
            ),
            params: receipts::params(o),
            columns: receipts::COLUMNS,
            headline: receipts::HEADLINE,
        },
    }
}

fn main() {
    let o = match options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(message) if message == options::USAGE => {
            println!("{message}");
            std::process::exit(0);
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let fds = proc::raise_fd_limit();
    let needed = o.connections.iter().max().copied().unwrap_or(0) + 1000;
    if o.scenarios.contains(&Scenario::IdleConnections) && (fds as usize) < needed {
        eprintln!(
            "warning: open-file limit {fds} is below the {needed} the largest idle run needs"
        );
    }
    let mut targets = vec![Target::Primary];
    if let Some((source, write)) = &o.ceiling {
        match server::build_ceiling(source) {
            Ok(binary) => targets.push(Target::Ceiling(binary, write.clone())),
            Err(e) => fail(&e),
        }
    }
    if o.reference.is_some() {
        targets.push(Target::Reference);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));

    let mut reports = Vec::new();
    for &scenario in &o.scenarios {
        let sizes = match scenario {
            Scenario::IdleConnections => o.connections.clone(),
            _ => vec![0],
        };
        for size in sizes {
            let shape = shape(scenario, size, &o);
            let mut report = ScenarioReport::new(scenario.name(), shape.params);
            for target in &targets {
                let run = runtime.block_on(run_on(scenario, size, target, &o));
                report.runs.push(run);
            }
            report.compute_ratios(shape.headline);
            report.print(&shape.title, shape.columns);
            match report.write() {
                Ok(path) => println!("   written to {}", path.display()),
                Err(e) => eprintln!("cannot write the report: {e}"),
            }
            reports.push(report);
            if let Some(path) = &o.json {
                let text = serde_json::to_string_pretty(&reports).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("{}: {e}", path.display());
                }
            }
        }
    }
    // Connections still held by aborted tasks are not waited for.
    runtime.shutdown_background();
    let failed = reports
        .iter()
        .flat_map(|r| &r.runs)
        .any(|r| r.status == Status::Failed);
    std::process::exit(i32::from(failed));
}

fn fail(message: &str) -> ! {
    eprintln!("load: {message}");
    std::process::exit(1);
}
