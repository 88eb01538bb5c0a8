//! The typed settings tree: `settings.toml` (defaults compiled in, the file on disk or `--config`
//! on top) overlaid by `CHAT__<SECTION>__<KEY>` environment variables. Bad settings stop start-up.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shipped `settings.toml`; it is the one place defaults are written down.
pub const DEFAULT_SETTINGS: &str = include_str!("../settings.toml");
/// The development secret shipped in `settings.toml`; start-up warns while it is used.
pub const DEVELOPMENT_SECRET: &str = "chatd-development-secret-do-not-deploy";
/// The smallest `notifications.replay_max_bytes`: room for several notifications.
pub const MIN_REPLAY_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("unknown setting `{0}`")]
    UnknownKey(String),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub sessions: SessionSettings,
    pub limits: LimitSettings,
    pub messages: MessageSettings,
    pub notifications: NotificationSettings,
    pub rooms: RoomSettings,
    pub mailboxes: MailboxSettings,
    pub health: HealthSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
    pub console: ConsoleSettings,
    pub push: PushSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    /// 0 = any free port.
    pub port: u16,
    /// 0 = one per core.
    pub workers: usize,
    /// Starts and ends with `/`.
    pub websocket_path: String,
    /// Seconds `/readyz` reports draining at shutdown before the listener closes.
    pub drain_seconds: f64,
    /// Seconds open connections get to close once told to go away.
    pub shutdown_timeout: f64,
    /// Most bytes one read of a WebSocket takes from its socket.
    pub socket_read_bytes: usize,
    /// Encoded frames gathered for one write of a WebSocket before the session waits for it.
    pub socket_write_bytes: usize,
    /// Seconds a WebSocket's pending bytes may wait on a client that takes none of them.
    pub write_stall_timeout: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    /// PostgreSQL pool size.
    pub max_connections: u32,
    pub min_connections: u32,
    /// SQLite: read-only connections for the reads that are not part of a write (the one
    /// write connection is separate).
    pub sqlite_readers: u32,
    /// SQLite: how hard a commit waits for the disk (docs/reliability.md).
    pub sqlite_synchronous: SqliteSynchronous,
    /// Seconds.
    pub acquire_timeout: f64,
    /// Seconds; SQLite only.
    pub sqlite_busy_timeout: f64,
    /// Most room writes the writer runs in one transaction (group commit).
    pub write_batch_max: usize,
    /// Room writes waiting for the writer; a full queue holds back the rooms that submit.
    pub write_queue: usize,
    /// Prepared statements each connection keeps for reuse (0: none kept).
    pub statement_cache: usize,
    /// SQLite: prepared statements the writer's own connection keeps for reuse (0: none kept).
    pub writer_statement_cache: usize,
    /// SQLite: WAL pages after which a commit copies them into the database file
    /// (`PRAGMA wal_autocheckpoint`; 0: never, which lets the WAL grow without bound).
    pub sqlite_wal_autocheckpoint: u32,
    /// SQLite file: bytes of write-ahead log frames the writer's own connection gathers into
    /// one write ([`crate::store::wal_writes`]); 0: SQLite's own writes, two a frame.
    pub sqlite_wal_write_bytes: usize,
    /// SQLite: seconds after a commit of the writer that the checkpointer
    /// ([`crate::store::checkpoint`]) copies the WAL into the database file on a connection
    /// of its own; 0: no checkpointer (commits checkpoint, after `sqlite_wal_autocheckpoint`).
    pub sqlite_checkpoint_delay: f64,
    /// SQLite file: seconds the writer's own connection keeps the pool's write connection once
    /// it took it for a commit ([`crate::store::writer`]): the longest a write through the pool
    /// waits while sends keep committing; 0: given back after each commit.
    pub sqlite_write_hold: f64,
    /// Which thread the writer ([`crate::store::writer`]) runs on: its own, the room
    /// actors', or its own with commits on the actors' thread while it is idle
    /// (docs/performance.md, "Fewer hops per send at window 1", "Committing where the send is
    /// when the writer is idle").
    pub writer_thread: WriterThread,
}

/// Where the writer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriterThread {
    /// A thread of its own: a batch's commit runs beside the rooms' fan-out.
    Own,
    /// The room actors' thread: a send reaches the writer, and its commit the room, without
    /// waking another thread; the rooms wait while a batch commits.
    Rooms,
    /// A thread of its own, but a plain message handed over while the writer is idle is
    /// committed on the thread of the room's actor, where it was sent (`rooms.actor_thread`):
    /// no hand-over to the writer and back at window 1, commit and fan-out side by side under
    /// load.
    Adaptive,
}

/// SQLite's `synchronous` pragma, in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// The WAL is synced at checkpoints only: a commit survives a crash of the process, but a
    /// power loss or OS crash may lose the last commits (never corrupts).
    Normal,
    /// The WAL is synced at every commit: a commit survives a power loss too.
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: String,
    pub user_id_claim: String,
    /// Seconds of tolerated clock skew.
    pub leeway: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Seconds of client silence before the connection is closed with 4008.
    pub inactivity_threshold: f64,
    /// Seconds between two batched writes of the `last_seen` of connections that sent a
    /// heartbeat meanwhile (heartbeats themselves write nothing).
    pub last_seen_flush_interval: f64,
    /// A connection's consecutive `message.send` events to one room handed to the room
    /// without waiting for the previous one to be committed, at most this many at once
    /// (1: one event at a time).
    pub pipelined_sends: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Bytes.
    pub max_frame_bytes: usize,
    /// Unicode scalar values, after trimming.
    pub max_content_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSettings {
    pub soft_delete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    pub enabled: bool,
    /// At most this many notifications of each room (its newest) in `chat.notifications`.
    pub replay_per_room: u64,
    /// At most this many bytes in the `chat.notifications` frame.
    pub replay_max_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub default_max_participants: i64,
    pub default_max_subscribers: i64,
    /// Seconds a room's actor may sit unused before it is retired (it reloads on next use).
    pub actor_idle_timeout: f64,
    /// Which thread a room's actor is started on (docs/performance.md, "A room on its
    /// sender's worker").
    pub actor_thread: ActorThread,
}

/// Where a room's actor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorThread {
    /// The room actors' own thread, beside the HTTP workers: every send crosses to it and back.
    Actors,
    /// The HTTP worker of the connection whose event first needs the room (the actors' thread
    /// when that is no worker): a send from a connection on that worker reaches its room, and
    /// the room its sessions there, without waking another thread.
    Worker,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    /// Per-connection outbound queue, in frames.
    pub session: usize,
    pub room: usize,
    pub notification: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// Seconds `/readyz` waits for the database.
    pub database_timeout: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// `host:port` of a listener of its own for `/metrics`; empty = the main port.
    pub bind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `[time LEVEL target] message key=value`, for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// env_logger filter used when `RUST_LOG` is not set.
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// Seconds a token minted by the console's development endpoint stays valid.
    pub dev_token_ttl: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// Where pushes for offline recipients are POSTed; empty = no push.
    pub webhook_url: String,
    /// Key of the `X-Chatd-Signature` HMAC; required when `webhook_url` is set.
    pub webhook_secret: String,
    /// Seconds one attempt may take.
    pub timeout: f64,
    /// Attempts per push, the first included.
    pub max_attempts: u32,
    /// Seconds before the first retry; doubled for each later one.
    pub backoff_initial: f64,
    /// Seconds, the longest wait between two attempts.
    pub backoff_max: f64,
    /// Pushes waiting to be sent; a full queue drops new ones.
    pub queue_size: usize,
    /// Characters of message text in a push's `preview`.
    pub preview_chars: usize,
}

impl Settings {
    /// Loads the compiled-in defaults, then `path` (or `./settings.toml` when present), then the
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with(path, &[])
    }

    /// As [`Settings::load`], with `overrides` (`("server.port", "0")`, …) applied last; the
    /// tests use this to point a server at its own database and port.
    pub fn load_with(
        path: Option<&Path>,
        overrides: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_SETTINGS,
            config::FileFormat::Toml,
        ));
        builder = match path {
            Some(p) => builder.add_source(config::File::from(p).required(true)),
            None => builder.add_source(config::File::with_name("settings.toml").required(false)),
        };
        builder = builder.add_source(
            config::Environment::with_prefix("CHAT")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        for (key, value) in overrides {
            builder = builder.set_override(*key, *value)?;
        }
        let raw = builder.build()?;
        check_known_keys(&raw)?;
        let settings: Settings = raw.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, reason: &str) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        }
        let path = &self.server.websocket_path;
        if !path.starts_with('/') || !path.ends_with('/') {
            return invalid("server.websocket_path", "must start and end with `/`");
        }
        if !(self.database.url.starts_with("sqlite:") || self.database.url.starts_with("postgres"))
        {
            return invalid("database.url", "must be a sqlite:// or postgres:// URL");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if self.database.sqlite_readers == 0 {
            return invalid("database.sqlite_readers", "must be at least 1");
        }
        if self.database.write_batch_max == 0 {
            return invalid("database.write_batch_max", "must be at least 1");
        }
        if self.sessions.pipelined_sends == 0 {
            return invalid("sessions.pipelined_sends", "must be at least 1");
        }
        if self.database.write_queue == 0 {
            return invalid("database.write_queue", "must be at least 1");
        }
        if self.database.min_connections > self.database.max_connections {
            return invalid(
                "database.min_connections",
                "must not exceed max_connections",
            );
        }
        for (key, secs) in [
            ("database.acquire_timeout", self.database.acquire_timeout),
            (
                "database.sqlite_busy_timeout",
                self.database.sqlite_busy_timeout,
            ),
            (
                "sessions.inactivity_threshold",
                self.sessions.inactivity_threshold,
            ),
            ("rooms.actor_idle_timeout", self.rooms.actor_idle_timeout),
            ("server.shutdown_timeout", self.server.shutdown_timeout),
            (
                "server.write_stall_timeout",
                self.server.write_stall_timeout,
            ),
            ("health.database_timeout", self.health.database_timeout),
            (
                "sessions.last_seen_flush_interval",
                self.sessions.last_seen_flush_interval,
            ),
            ("push.timeout", self.push.timeout),
            ("push.backoff_initial", self.push.backoff_initial),
            ("push.backoff_max", self.push.backoff_max),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
                return invalid(key, "must be a positive number of seconds");
            }
        }
        for (key, secs) in [
            ("server.drain_seconds", self.server.drain_seconds),
            (
                "database.sqlite_checkpoint_delay",
                self.database.sqlite_checkpoint_delay,
            ),
            (
                "database.sqlite_write_hold",
                self.database.sqlite_write_hold,
            ),
        ] {
            if !(secs.is_finite() && (0.0..1e9).contains(&secs)) {
                return invalid(key, "must be zero or a positive number of seconds");
            }
        }
        // One write of at most this many bytes (SQLite passes a length as a C int).
        if self.database.sqlite_wal_write_bytes > 1 << 30 {
            return invalid(
                "database.sqlite_wal_write_bytes",
                "must be at most 1073741824",
            );
        }
        if self.auth.jwt_secret.is_empty() {
            return invalid("auth.jwt_secret", "must not be empty");
        }
        if self.auth.user_id_claim.is_empty() {
            return invalid("auth.user_id_claim", "must not be empty");
        }
        if self.limits.max_frame_bytes < 1024 {
            return invalid("limits.max_frame_bytes", "must be at least 1024");
        }
        if self.limits.max_content_chars == 0 {
            return invalid("limits.max_content_chars", "must be at least 1");
        }
        if self.rooms.default_max_participants < 0 {
            return invalid("rooms.default_max_participants", "must not be negative");
        }
        if self.rooms.default_max_subscribers < 0 {
            return invalid("rooms.default_max_subscribers", "must not be negative");
        }
        if !self.metrics.bind.is_empty() && self.metrics_bind().is_none() {
            return invalid("metrics.bind", "must be empty or HOST:PORT");
        }
        if self.log.filter.trim().is_empty() {
            return invalid("log.filter", "must not be empty");
        }
        if self.console.dev_token_ttl == 0 {
            return invalid("console.dev_token_ttl", "must be at least 1");
        }
        for (key, cap) in [
            ("server.socket_read_bytes", self.server.socket_read_bytes),
            ("server.socket_write_bytes", self.server.socket_write_bytes),
            ("mailboxes.session", self.mailboxes.session),
            ("mailboxes.room", self.mailboxes.room),
            ("mailboxes.notification", self.mailboxes.notification),
            ("push.queue_size", self.push.queue_size),
            ("push.max_attempts", self.push.max_attempts as usize),
            ("push.preview_chars", self.push.preview_chars),
            (
                "notifications.replay_per_room",
                self.notifications.replay_per_room.min(usize::MAX as u64) as usize,
            ),
        ] {
            if cap == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if self.notifications.replay_max_bytes < MIN_REPLAY_BYTES {
            return invalid(
                "notifications.replay_max_bytes",
                &format!("must be at least {MIN_REPLAY_BYTES}"),
            );
        }
        let url = &self.push.webhook_url;
        if !url.is_empty() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid("push.webhook_url", "must be empty or an http(s):// URL");
            }
            if url.parse::<actix_web::http::Uri>().is_err() {
                return invalid("push.webhook_url", "is not a valid URL");
            }
            if self.push.webhook_secret.is_empty() {
                return invalid(
                    "push.webhook_secret",
                    "must be set when push.webhook_url is set",
                );
            }
        }
        Ok(())
    }

    pub fn uses_development_secret(&self) -> bool {
        self.auth.jwt_secret == DEVELOPMENT_SECRET
    }

    /// Where `/metrics` gets a listener of its own, if anywhere: `(host, port)`.
    pub fn metrics_bind(&self) -> Option<(&str, u16)> {
        let (host, port) = self.metrics.bind.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some((host, port.parse().ok()?)).filter(|(h, _)| !h.is_empty())
    }

    /// Whether the console's development token endpoint exists: only with the console on and
    /// the development secret in use, since anyone can mint tokens for that secret anyway.
    pub fn console_mints_tokens(&self) -> bool {
        self.console.enabled && self.uses_development_secret()
    }

    pub fn drain_period(&self) -> Duration {
        Duration::from_secs_f64(self.server.drain_seconds)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.server.shutdown_timeout)
    }

    /// `None`: no checkpointer (`database.sqlite_checkpoint_delay` = 0).
    pub fn sqlite_checkpoint_delay(&self) -> Option<Duration> {
        let secs = self.database.sqlite_checkpoint_delay;
        (secs > 0.0).then(|| Duration::from_secs_f64(secs))
    }

    pub fn write_stall_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.server.write_stall_timeout)
    }

    pub fn readiness_database_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.health.database_timeout)
    }

    pub fn inactivity_threshold(&self) -> Duration {
        Duration::from_secs_f64(self.sessions.inactivity_threshold)
    }

    pub fn last_seen_flush_interval(&self) -> Duration {
        Duration::from_secs_f64(self.sessions.last_seen_flush_interval)
    }

    pub fn room_actor_idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.rooms.actor_idle_timeout)
    }
}

/// serde's unknown-field error does not say which section it is in; naming `section.key` lets
/// an operator find a typo in an environment variable as quickly as in the file.
fn check_known_keys(raw: &config::Config) -> Result<(), ConfigError> {
    let defaults: toml_keys::Tree = config::Config::builder()
        .add_source(config::File::from_str(
            DEFAULT_SETTINGS,
            config::FileFormat::Toml,
        ))
        .build()?
        .try_deserialize()?;
    let known: BTreeSet<String> = toml_keys::flatten(&defaults);
    let given: toml_keys::Tree = raw.clone().try_deserialize()?;
    for key in toml_keys::flatten(&given) {
        if !known.contains(&key) {
            return Err(ConfigError::UnknownKey(key));
        }
    }
    Ok(())
}

mod toml_keys {
    use std::collections::{BTreeMap, BTreeSet};

    /// Two levels: section → key → any value.
    pub type Tree = BTreeMap<String, Section>;

    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    pub enum Section {
        Table(BTreeMap<String, serde::de::IgnoredAny>),
        Scalar(serde::de::IgnoredAny),
    }

    pub fn flatten(tree: &Tree) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for (section, body) in tree {
            match body {
                Section::Table(entries) => {
                    for key in entries.keys() {
                        keys.insert(format!("{section}.{key}"));
                    }
                }
                Section::Scalar(_) => {
                    keys.insert(section.clone());
                }
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_settings_load_and_validate() {
        let s = Settings::load_with(None, &[]).expect("defaults load");
        assert_eq!(s.server.websocket_path, "/messaging/");
        assert_eq!(s.sessions.inactivity_threshold, 60.0);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Settings::load_with(None, &[("server.prot", "1")]).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting `server.prot`");
    }

    #[test]
    fn bad_value_is_named() {
        let err =
            Settings::load_with(None, &[("sessions.inactivity_threshold", "-1")]).unwrap_err();
        assert!(
            err.to_string().contains("sessions.inactivity_threshold"),
            "{err}"
        );
        let err = Settings::load_with(None, &[("server.port", "not-a-port")]).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }
}
