//! The command line: `cargo bench --bench load -- [--scenario NAME]… [workload flags]
//! [target flags] [baseline flags]`. Every flag is documented in [`USAGE`].

use std::path::PathBuf;

use crate::receipts::Event;

pub const USAGE: &str = "\
usage: cargo bench --bench load -- [--scenario NAME]... [options]

scenarios (several allowed; `all` runs every one; default group-fanout):
  group-fanout      one GroupChat of --members, --senders each keeping --window messages in flight
  many-rooms        --pairs one-to-one rooms, one sender per pair with --window in flight
  idle-connections  --connections N[,N…] held open for --hold s with heartbeats; RSS per connection
  reconnect-storm   --users users with --pending notifications each reconnect at once
  history           page through a room of --history-messages messages, --page-size per page
  receipts          a GroupChat of --members (default 10): the first sends --batch messages a
                    round, every other member answers them with --event; events/s, server CPU,
                    statements and voluntary switches per event, every dispatch exactly once

workload:
  --duration S      measured window of the traffic scenarios (default 10)
  --warmup S        traffic before the window, not measured (default 2)
  --members M       group-fanout members (default 100)
  --senders S       group-fanout senders, the first S members (default 10)
  --window W        messages in flight per sender (default 8 for group-fanout, 4 for many-rooms)
  --pairs P         many-rooms pairs (default 200)
  --connections N   idle-connections sizes, comma-separated (default 1000)
  --hold S          idle-connections: seconds the connections are held (default 10)
  --heartbeat S     seconds between heartbeats of a connection that sends nothing else (default 20)
  --users U         reconnect-storm users (default 1000)
  --pending K       reconnect-storm notifications per user (default 10)
  --history-messages N   messages in the history room (default 1000000)
  --page-size N     history page size (default 50)
  --event KIND      receipts: read | read-bulk | react (add, replace, remove) | react-add | ack | mix
                    (default mix)
  --batch N         receipts: messages per round (default 1)
  --connect-concurrency N   handshakes in flight while connecting (default 200; the reference: 1)
  --client-threads N        load client runtime threads (default 2)

target (default: start the chatd binary on a fresh temporary SQLite database):
  --set KEY=VALUE   a setting of the started chatd (CHAT__SECTION__KEY), e.g. mailboxes.session=1024
  --url URL --secret SECRET [--server-pid PID]
                    drive a running chatd; tokens are signed with SECRET; server CPU and RSS
                    are read from /proc only when --server-pid is given

baselines, run with the same workload in the same invocation:
  --baseline-ceiling PATH   build ceiling-server from PATH (into target/ceiling) and run it
  --ceiling-write MODE      batch (default) or frame
  --baseline-url URL --baseline-tokens FILE   the reference (../shared/reference/run.sh)
  --baseline-pid PID        the reference's server process, for its CPU and RSS

output:
  --json PATH       also write the reports (a JSON array) to PATH; each scenario always writes
                    target/load/<scenario>-<timestamp>.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    GroupFanout,
    ManyRooms,
    IdleConnections,
    ReconnectStorm,
    History,
    Receipts,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::GroupFanout,
        Scenario::ManyRooms,
        Scenario::IdleConnections,
        Scenario::ReconnectStorm,
        Scenario::History,
        Scenario::Receipts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::GroupFanout => "group-fanout",
            Scenario::ManyRooms => "many-rooms",
            Scenario::IdleConnections => "idle-connections",
            Scenario::ReconnectStorm => "reconnect-storm",
            Scenario::History => "history",
            Scenario::Receipts => "receipts",
        }
    }
}

/// The server under test.
#[derive(Debug, Clone)]
pub enum Primary {
    /// Start the chatd binary with these settings overrides.
    Spawn { settings: Vec<(String, String)> },
    /// A running chatd.
    Running {
        url: String,
        secret: String,
        pid: Option<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    pub duration: f64,
    pub warmup: f64,
    pub members: usize,
    pub senders: usize,
    pub window: Option<usize>,
    pub pairs: usize,
    pub connections: Vec<usize>,
    pub hold: f64,
    pub heartbeat: f64,
    pub users: usize,
    pub pending: usize,
    pub history_messages: usize,
    pub page_size: usize,
    /// `--members` as given (receipts has a default of its own).
    pub receipt_members: Option<usize>,
    pub event: Event,
    pub batch: usize,
    pub connect_concurrency: usize,
    pub client_threads: usize,
    pub primary: Primary,
    /// The ceiling's source folder and its write mode.
    pub ceiling: Option<(PathBuf, String)>,
    /// The reference's URL, tokens file and (optional) server pid.
    pub reference: Option<(String, PathBuf, Option<u32>)>,
    pub json: Option<PathBuf>,
}

pub fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        scenarios: Vec::new(),
        duration: 10.0,
        warmup: 2.0,
        members: 100,
        senders: 10,
        window: None,
        pairs: 200,
        connections: vec![1000],
        hold: 10.0,
        heartbeat: 20.0,
        users: 1000,
        pending: 10,
        history_messages: 1_000_000,
        page_size: 50,
        receipt_members: None,
        event: Event::Mix,
        batch: 1,
        connect_concurrency: 200,
        client_threads: 2,
        primary: Primary::Spawn {
            settings: Vec::new(),
        },
        ceiling: None,
        reference: None,
        json: None,
    };
    let (mut url, mut secret, mut pid) = (None, None, None);
    let (mut b_url, mut b_tokens, mut b_pid) = (None, None, None);
    let mut ceiling_path = None;
    let mut ceiling_write = "batch".to_string();
    let mut settings = Vec::new();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            // cargo bench passes --bench to every harness = false target.
            "--bench" => {}
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--scenario" => {
                let name = value()?;
                if name == "all" {
                    o.scenarios.extend(Scenario::ALL);
                } else {
                    let s = Scenario::ALL
                        .into_iter()
                        .find(|s| s.name() == name)
                        .ok_or(format!("unknown scenario `{name}`\n\n{USAGE}"))?;
                    o.scenarios.push(s);
                }
            }
            "--duration" => o.duration = number(&flag, &value()?)?,
            "--warmup" => o.warmup = number(&flag, &value()?)?,
            "--members" => {
                o.members = number(&flag, &value()?)?;
                o.receipt_members = Some(o.members);
            }
            "--senders" => o.senders = number(&flag, &value()?)?,
            "--window" => o.window = Some(number(&flag, &value()?)?),
            "--pairs" => o.pairs = number(&flag, &value()?)?,
            "--connections" => {
                o.connections = value()?
                    .split(',')
                    .map(|n| number(&flag, n.trim()))
                    .collect::<Result<_, _>>()?
            }
            "--hold" => o.hold = number(&flag, &value()?)?,
            "--heartbeat" => o.heartbeat = number(&flag, &value()?)?,
            "--users" => o.users = number(&flag, &value()?)?,
            "--pending" => o.pending = number(&flag, &value()?)?,
            "--history-messages" => o.history_messages = number(&flag, &value()?)?,
            "--page-size" => o.page_size = number(&flag, &value()?)?,
            "--event" => {
                let name = value()?;
                o.event = Event::ALL
                    .into_iter()
                    .find(|e| e.name() == name)
                    .ok_or(format!("unknown --event `{name}`\n\n{USAGE}"))?;
            }
            "--batch" => o.batch = number(&flag, &value()?)?,
            "--connect-concurrency" => o.connect_concurrency = number(&flag, &value()?)?,
            "--client-threads" => o.client_threads = number(&flag, &value()?)?,
            "--set" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("--set wants KEY=VALUE, got `{kv}`"))?;
                settings.push((k.to_string(), v.to_string()));
            }
            "--url" => url = Some(value()?),
            "--secret" => secret = Some(value()?),
            "--server-pid" => pid = Some(number(&flag, &value()?)?),
            "--baseline-ceiling" => ceiling_path = Some(PathBuf::from(value()?)),
            "--ceiling-write" => ceiling_write = value()?,
            "--baseline-url" => b_url = Some(value()?),
            "--baseline-tokens" => b_tokens = Some(PathBuf::from(value()?)),
            "--baseline-pid" => b_pid = Some(number(&flag, &value()?)?),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if o.scenarios.is_empty() {
        o.scenarios.push(Scenario::GroupFanout);
    }
    o.scenarios.dedup();
    o.primary = match (url, secret) {
        (Some(url), Some(secret)) => Primary::Running { url, secret, pid },
        (None, None) => Primary::Spawn { settings },
        _ => return Err("--url and --secret go together".into()),
    };
    if !matches!(ceiling_write.as_str(), "batch" | "frame") {
        return Err(format!(
            "--ceiling-write is batch or frame, not `{ceiling_write}`"
        ));
    }
    o.ceiling = ceiling_path.map(|p| (p, ceiling_write));
    o.reference = match (b_url, b_tokens) {
        (Some(u), Some(t)) => Some((u, t, b_pid)),
        (None, None) => None,
        _ => return Err("--baseline-url and --baseline-tokens go together".into()),
    };
    let positive = [
        ("--members", o.members),
        ("--senders", o.senders),
        ("--pairs", o.pairs),
        ("--users", o.users),
        ("--page-size", o.page_size),
        ("--batch", o.batch),
        ("--connect-concurrency", o.connect_concurrency),
        ("--client-threads", o.client_threads),
    ];
    if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(format!("{flag} must be positive"));
    }
    if o.window == Some(0) || o.senders > o.members {
        return Err("--window must be positive and --senders at most --members".into());
    }
    if o.duration <= 0.0 || o.hold <= 0.0 || o.heartbeat <= 0.0 || o.warmup < 0.0 {
        return Err("--duration, --hold and --heartbeat must be positive".into());
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(flag: &str, raw: &str) -> Result<T, String> {
    raw.parse()
        .map_err(|_| format!("{flag}: `{raw}` is not a valid number"))
}
