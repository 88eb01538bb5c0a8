//! Log output: env_logger with `RUST_LOG` (or `log.filter`), as text for people or as one JSON
//! object per line for log shippers (`log.format`).
//!
//! Every line about a connection carries its id as the field `conn`: code that knows the
//! connection logs it as a key-value (`log::info!(conn:% = id; "…")`), and everything logged
//! while one of its events is handled — down to a failing query in `store` — gets it from the
//! task-local scope [`in_connection`] wraps the handler in. Tokens and message content are never
//! logged at the default level.

use std::future::Future;
use std::io::Write;

use log::kv::{Key, Value, VisitSource};
use uuid::Uuid;

use crate::config::{LogFormat, LogSettings};

tokio::task_local! {
    static CONNECTION: Uuid;
}

/// Runs `fut` with `connection` as the `conn` of every line it logs.
pub fn in_connection<F: Future>(connection: Uuid, fut: F) -> impl Future<Output = F::Output> {
    CONNECTION.scope(connection, fut)
}

/// Installs the process-wide logger. Call once, before the server starts.
pub fn init(settings: &LogSettings) {
    let format = settings.format;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&settings.filter))
        .format(move |buf, record| {
            let line = format_line(format, record);
            writeln!(buf, "{line}")
        })
        .init();
}

/// One record as one line, without the newline.
pub fn format_line(format: LogFormat, record: &log::Record) -> String {
    let mut fields = Fields::default();
    // A visitor that never fails: the error type is only for visitors that stop early.
    let _ = record.key_values().visit(&mut fields);
    if !fields.pairs.iter().any(|(k, _)| k == "conn") {
        if let Ok(id) = CONNECTION.try_with(|id| *id) {
            fields.pairs.insert(0, ("conn".into(), id.to_string()));
        }
    }
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    match format {
        LogFormat::Text => {
            let mut line = format!(
                "[{ts} {:<5} {}] {}",
                record.level(),
                record.target(),
                record.args()
            );
            for (key, value) in &fields.pairs {
                line.push_str(&format!(" {key}={value}"));
            }
            line
        }
        LogFormat::Json => {
            let mut object = serde_json::Map::new();
            object.insert("ts".into(), ts.to_string().into());
            object.insert("level".into(), record.level().as_str().into());
            object.insert("target".into(), record.target().into());
            object.insert("msg".into(), record.args().to_string().into());
            for (key, value) in fields.pairs {
                object.entry(key).or_insert(value.into());
            }
            serde_json::Value::Object(object).to_string()
        }
    }
}

#[derive(Default)]
struct Fields {
    pairs: Vec<(String, String)>,
}

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        self.pairs.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_line(format: LogFormat, conn_kv: Option<&str>) -> String {
        let args = format_args!("hello \"world\"");
        let kvs: Vec<(&str, &str)> = conn_kv.map(|c| ("conn", c)).into_iter().collect();
        let record = log::Record::builder()
            .args(args)
            .level(log::Level::Info)
            .target("chatd::test")
            .key_values(&kvs)
            .build();
        format_line(format, &record)
    }

    #[test]
    fn json_lines_are_objects_with_the_connection_of_the_scope() {
        let id = Uuid::new_v4();
        let line = CONNECTION.sync_scope(id, || record_line(LogFormat::Json, None));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "chatd::test");
        assert_eq!(v["msg"], "hello \"world\"");
        assert_eq!(v["conn"], id.to_string());
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn an_explicit_connection_wins_and_lines_outside_a_scope_have_none() {
        let scoped = Uuid::new_v4();
        let line = CONNECTION.sync_scope(scoped, || record_line(LogFormat::Json, Some("abc")));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["conn"], "abc");
        let plain: serde_json::Value =
            serde_json::from_str(&record_line(LogFormat::Json, None)).unwrap();
        assert!(plain.get("conn").is_none());
    }

    #[test]
    fn text_lines_end_with_their_fields() {
        let line = record_line(LogFormat::Text, Some("abc"));
        assert!(line.ends_with("] hello \"world\" conn=abc"), "{line}");
        assert!(line.contains(" INFO  chatd::test]"), "{line}");
    }
}
