//! What a scenario reports: one run per server (the target first, then the baselines), each
//! a flat JSON object of figures; a printed table; the ratio of the target to each baseline;
//! and the JSON written to `target/load/<scenario>-<timestamp>.json` (and `--json PATH`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::server::proc;

/// Latency histogram in microseconds, 1 µs to 10 minutes, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| {
        // The bounds are constants that hdrhistogram accepts; an auto-resizing one is the
        // fallback should that ever change.
        Histogram::new(3).unwrap_or_else(|e| panic!("histogram: {e}"))
    })
}

/// `{"p50", "p90", "p99", "max", "count"}`, milliseconds with microsecond resolution.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    if h.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
        "count": h.len(),
    })
}

/// `target/load` (or `$CARGO_TARGET_DIR/load`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// The server cannot run this scenario (e.g. the ceiling has no notifications).
    #[serde(rename = "n/a")]
    NotApplicable,
    /// The server does not implement what the scenario needs yet.
    Pending,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub target: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub metrics: Map<String, Value>,
}

impl Run {
    pub fn ok(target: &str, metrics: Map<String, Value>) -> Run {
        Run {
            target: target.to_string(),
            status: Status::Ok,
            reason: None,
            metrics,
        }
    }

    pub fn not(target: &str, status: Status, reason: impl Into<String>) -> Run {
        Run {
            target: target.to_string(),
            status,
            reason: Some(reason.into()),
            metrics: Map::new(),
        }
    }
}

/// A column of a scenario's table: a header and the path of a figure (`latency_ms/p50`).
pub struct Column {
    pub header: &'static str,
    pub path: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub started_at: String,
    /// The machine is shared: figures taken under load read lower.
    pub load_average_at_start: Vec<f64>,
    pub cpus: usize,
    pub params: Value,
    pub runs: Vec<Run>,
    /// `"<target> / <baseline>"` → figure → target ÷ baseline.
    pub ratios: Map<String, Value>,
}

impl ScenarioReport {
    pub fn new(scenario: &str, params: Value) -> ScenarioReport {
        ScenarioReport {
            scenario: scenario.to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            load_average_at_start: proc::load_average(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            params,
            runs: Vec::new(),
            ratios: Map::new(),
        }
    }

    /// Fills `ratios`: the first run is the target, every other successful run a baseline.
    pub fn compute_ratios(&mut self, headline: &[&str]) {
        let Some((target, baselines)) = self.runs.split_first() else {
            return;
        };
        if target.status != Status::Ok {
            return;
        }
        for base in baselines.iter().filter(|b| b.status == Status::Ok) {
            let mut ratios = Map::new();
            for path in headline {
                if let (Some(t), Some(b)) =
                    (figure(&target.metrics, path), figure(&base.metrics, path))
                {
                    if b != 0.0 {
                        ratios.insert(path.to_string(), json!(((t / b) * 1000.0).round() / 1000.0));
                    }
                }
            }
            self.ratios.insert(
                format!("{} / {}", target.target, base.target),
                Value::Object(ratios),
            );
        }
    }

    pub fn print(&self, title: &str, columns: &[Column]) {
        println!("\n== {} — {title}", self.scenario);
        println!(
            "   load average at start {:?} on {} CPUs (the machine is shared: compare ratios, not absolute figures)",
            self.load_average_at_start, self.cpus
        );
        let width = columns
            .iter()
            .map(|c| c.header.len().max(9))
            .collect::<Vec<_>>();
        let mut line = format!("{:<18}", "server");
        for (c, w) in columns.iter().zip(&width) {
            line.push_str(&format!(" {:>w$}", c.header, w = w));
        }
        println!("{line}");
        for run in &self.runs {
            let mut line = format!("{:<18}", run.target);
            if run.status != Status::Ok {
                let status = serde_json::to_value(run.status).unwrap_or_default();
                line.push_str(&format!(
                    " {}: {}",
                    status.as_str().unwrap_or_default(),
                    run.reason.as_deref().unwrap_or_default()
                ));
            } else {
                for (c, w) in columns.iter().zip(&width) {
                    let cell = match lookup(&run.metrics, c.path) {
                        Some(Value::Number(n)) => format_number(n.as_f64().unwrap_or_default()),
                        Some(Value::Null) | None => "-".to_string(),
                        Some(other) => other.to_string(),
                    };
                    line.push_str(&format!(" {cell:>w$}", w = w));
                }
            }
            println!("{line}");
            if let Some(Value::Array(samples)) = run.metrics.get("error_samples") {
                for s in samples {
                    println!("{:<18}   error: {}", "", s.as_str().unwrap_or_default());
                }
            }
        }
        for (pair, ratios) in &self.ratios {
            let parts: Vec<String> = ratios
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k} {v}x"))
                .collect();
            println!("ratio {pair}: {}", parts.join(", "));
        }
    }

    /// Writes `target/load/<scenario>-<timestamp>.json`; returns its path.
    pub fn write(&self) -> Result<PathBuf, String> {
        let dir = target_dir().join("load");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let path = dir.join(format!("{}-{stamp}.json", self.scenario));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

fn lookup<'a>(metrics: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('/');
    let mut value = metrics.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

fn figure(metrics: &Map<String, Value>, path: &str) -> Option<f64> {
    lookup(metrics, path)?.as_f64()
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A progress line on stderr, redrawn at most once a second.
pub struct Progress {
    label: String,
    total_s: f64,
    started: Instant,
    last_shown: Instant,
    last_count: u64,
}

impl Progress {
    pub fn new(label: &str, total_s: f64) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            total_s,
            started: now,
            last_shown: now,
            last_count: 0,
        }
    }

    /// `count` is a running total (deliveries, connections, pages).
    pub fn show(&mut self, count: u64) {
        let since = self.last_shown.elapsed().as_secs_f64();
        if since < 1.0 {
            return;
        }
        let rate = (count.saturating_sub(self.last_count)) as f64 / since;
        eprint!(
            "\r  {}: {:>5.1} / {:.0} s, {count} so far, {rate:.0}/s      ",
            self.label,
            self.started.elapsed().as_secs_f64(),
            self.total_s
        );
        let _ = std::io::stderr().flush();
        self.last_shown = Instant::now();
        self.last_count = count;
    }

    pub fn done(&self) {
        eprintln!();
    }
}
