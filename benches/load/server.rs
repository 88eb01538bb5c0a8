//! The servers a run drives: chatd started as a child process (so its CPU seconds and peak
//! RSS in /proc are its own, not the load client's), a running chatd, the ceiling's
//! `ceiling-server`, or the reference. Only processes started here are stopped, by their pid.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatd::auth::{issue, NewToken};
use chatd::config::{AuthSettings, Settings};

/// How long a started server may take to listen (chatd migrates a fresh database first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What a server speaks, which decides how a load client talks to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// chatd: the whole protocol; tokens; `chat.notifications` first.
    Chatd,
    /// The Python reference: the whole protocol, tokens from its file, one handshake at a time.
    Reference,
    /// `ceiling-server`: `?uid=N`, one fixed room, `message.send` echo; no greeting frame.
    Ceiling,
}

/// The one room every `ceiling-server` connection is in.
pub const CEILING_ROOM: &str = "0b5f3c7e-8a47-4c1b-9a52-5a3f4f1b2c9d";

enum Auth {
    Secret(AuthSettings),
    Tokens(HashMap<i64, String>),
    Uid,
}

pub struct Server {
    /// As printed in tables: `chatd`, `ceiling (batch)`, `reference`.
    pub name: String,
    pub flavor: Flavor,
    /// `ws://127.0.0.1:PORT/messaging/`
    pub url: String,
    /// The server's process, when known: CPU and RSS are read from /proc/PID.
    pub pid: Option<u32>,
    /// The database a chatd started here uses (for seeding the history scenario).
    pub database_url: Option<String>,
    auth: Auth,
    child: Option<Child>,
    /// A started chatd's working directory (database, log); removed on drop.
    dir: Option<PathBuf>,
}

impl Server {
    /// Starts the chatd binary built with this bench on a fresh SQLite file (unless
    /// `settings` names another `database.url`), on a free port, with a secret of its own.
    pub fn start_chatd(settings: &[(String, String)]) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!("chatd-load-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let secret = format!("load-{}", uuid::Uuid::new_v4().simple());
        let mut all = vec![
            ("server.host".to_string(), "127.0.0.1".to_string()),
            ("server.port".to_string(), "0".to_string()),
            (
                "database.url".to_string(),
                format!("sqlite://{}/chat.db?mode=rwc", dir.display()),
            ),
            ("auth.jwt_secret".to_string(), secret.clone()),
        ];
        all.extend(settings.iter().cloned());
        let log = std::fs::File::create(dir.join("chatd.log")).map_err(|e| e.to_string())?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatd"));
        command
            .arg("serve")
            .current_dir(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (key, value) in &all {
            command.env(env_key(key), value);
        }
        let mut child = command.spawn().map_err(|e| format!("start chatd: {e}"))?;
        let url = read_banner(&mut child).inspect_err(|_| {
            let _ = child.kill();
            let _ = child.wait();
        })?;
        let database_url = all
            .iter()
            .rev()
            .find(|(k, _)| k == "database.url")
            .map(|(_, v)| v.clone());
        Ok(Server {
            name: "chatd".into(),
            flavor: Flavor::Chatd,
            url,
            pid: Some(child.id()),
            database_url,
            auth: Auth::Secret(auth_settings(&secret)?),
            child: Some(child),
            dir: Some(dir),
        })
    }

    /// A chatd somebody else runs.
    pub fn running_chatd(url: &str, secret: &str, pid: Option<u32>) -> Result<Server, String> {
        Ok(Server {
            name: "chatd".into(),
            flavor: Flavor::Chatd,
            url: url.to_string(),
            pid,
            database_url: None,
            auth: Auth::Secret(auth_settings(secret)?),
            child: None,
            dir: None,
        })
    }

    /// The reference, run by `../shared/reference/run.sh`; tokens from its file.
    pub fn reference(url: &str, tokens: &Path, pid: Option<u32>) -> Result<Server, String> {
        Ok(Server {
            name: "reference".into(),
            flavor: Flavor::Reference,
            url: url.to_string(),
            pid,
            database_url: None,
            auth: Auth::Tokens(read_tokens(tokens)?),
            child: None,
            dir: None,
        })
    }

    /// Starts `ceiling-server` (built by [`build_ceiling`]) on a free port.
    pub fn start_ceiling(binary: &Path, write: &str) -> Result<Server, String> {
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--write", write])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        let mut server = Server {
            name: format!("ceiling ({write})"),
            flavor: Flavor::Ceiling,
            url: format!("ws://127.0.0.1:{port}/messaging/"),
            pid: Some(child.id()),
            database_url: None,
            auth: Auth::Uid,
            child: Some(child),
            dir: None,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > START_TIMEOUT {
                server.stop();
                return Err("ceiling-server did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The URL user `user_id` connects to.
    pub fn url_for(&self, user_id: i64) -> Result<String, String> {
        match &self.auth {
            Auth::Secret(auth) => {
                let token = issue(
                    auth,
                    &NewToken {
                        user_id,
                        username: Some(format!("user{user_id}")),
                        email: Some(format!("user{user_id}@example.com")),
                        first_name: Some("User".into()),
                        last_name: Some(user_id.to_string()),
                        exp: Some(chrono::Utc::now().timestamp() + 24 * 3600),
                    },
                )
                .map_err(|e| e.to_string())?;
                Ok(format!("{}?token={token}", self.url))
            }
            Auth::Tokens(tokens) => tokens
                .get(&user_id)
                .map(|t| format!("{}?token={t}", self.url))
                .ok_or(format!("the tokens file has no user {user_id}")),
            Auth::Uid => Ok(format!("{}?uid={user_id}", self.url)),
        }
    }

    /// Lines of the server's log at WARN or above (a started chatd only).
    pub fn log_problems(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        std::fs::read_to_string(dir.join("chatd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .map(str::to_string)
            .collect()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `database.url` → `CHAT__DATABASE__URL`.
fn env_key(key: &str) -> String {
    format!("CHAT__{}", key.to_uppercase().replace('.', "__"))
}

fn auth_settings(secret: &str) -> Result<AuthSettings, String> {
    Settings::load_with(None, &[("auth.jwt_secret", secret)])
        .map(|s| s.auth)
        .map_err(|e| e.to_string())
}

/// Waits for `chatd is listening on URL` and keeps draining stdout afterwards.
fn read_banner(child: &mut Child) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let (false, Some(url)) = (sent, line.strip_prefix("chatd is listening on ")) {
                let _ = tx.send(url.trim().to_string());
                sent = true;
            }
        }
    });
    rx.recv_timeout(START_TIMEOUT)
        .map_err(|_| "chatd did not print its banner (see its log)".to_string())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// `{"users": [{"id", "token"}, …]}` (the reference's format) → user id → token.
fn read_tokens(path: &Path) -> Result<HashMap<i64, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let users = doc.get("users").unwrap_or(&doc);
    Ok(users
        .as_array()
        .ok_or(format!("{}: no users array", path.display()))?
        .iter()
        .filter_map(|u| Some((u["id"].as_i64()?, u["token"].as_str()?.to_string())))
        .collect())
}

/// Builds `ceiling-server` from its (read-only) folder into `target/ceiling`; returns the
/// binary. Cargo makes this a no-op when nothing changed.
pub fn build_ceiling(source: &Path) -> Result<PathBuf, String> {
    let target = crate::report::target_dir().join("ceiling");
    eprintln!(
        "building ceiling-server from {} into {} (the first build takes minutes)…",
        source.display(),
        target.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(source.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| format!("cargo build of the ceiling: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of the ceiling failed: {status}"));
    }
    Ok(target.join("release").join("ceiling-server"))
}

/// Process figures from /proc, for a server (by pid) or this process.
pub mod proc {
    /// utime + stime in seconds.
    pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
        let path = match pid {
            Some(pid) => format!("/proc/{pid}/stat"),
            None => "/proc/self/stat".into(),
        };
        let stat = std::fs::read_to_string(path).ok()?;
        // Fields after the `)` that closes the command name: utime is the 12th, stime the 13th.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ticks as f64 / per_second.max(1) as f64)
    }

    /// A `Vm…:` line of /proc/PID/status in KiB: `VmRSS` now, `VmHWM` the peak.
    pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()?
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    pub fn rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmRSS:")
    }

    pub fn peak_rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmHWM:")
    }

    /// The 1, 5 and 15 minute load averages.
    pub fn load_average() -> Vec<f64> {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect()
    }

    /// Raises this process's open-file limit to its hard limit (children inherit it), so
    /// 10,000 connections fit on both ends. Returns the limit now in force.
    pub fn raise_fd_limit() -> u64 {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
        }
        limit.rlim_cur
    }
}
