//! The documentation tells the truth about the settings: docs/configuration.md has a row for
//! every key of the shipped settings.toml and of the `Settings` struct, no row for a key that
//! does not exist, and the defaults it quotes are the shipped ones.

use std::collections::{BTreeMap, BTreeSet};

use chatd::config::{Settings, DEFAULT_SETTINGS};
use serde_json::Value;

const CONFIGURATION_MD: &str = include_str!("../docs/configuration.md");

/// `section.key` → value, two levels deep.
fn flatten(tree: &Value) -> BTreeMap<String, Value> {
    let mut keys = BTreeMap::new();
    for (section, body) in tree.as_object().expect("sections") {
        for (key, value) in body.as_object().expect("keys") {
            keys.insert(format!("{section}.{key}"), value.clone());
        }
    }
    keys
}

/// The table rows of docs/configuration.md: key → the default cell.
fn documented() -> BTreeMap<String, String> {
    CONFIGURATION_MD
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let (key, rest) = row.split_once('`').expect("closing backtick");
            let default = rest.split('|').nth(1).expect("default cell").trim();
            (key.to_string(), default.to_string())
        })
        .collect()
}

fn shipped() -> BTreeMap<String, Value> {
    let tree: Value = config::Config::builder()
        .add_source(config::File::from_str(
            DEFAULT_SETTINGS,
            config::FileFormat::Toml,
        ))
        .build()
        .expect("settings.toml parses")
        .try_deserialize()
        .expect("settings.toml is a tree");
    flatten(&tree)
}

#[test]
fn every_setting_is_documented_and_every_documented_setting_exists() {
    let shipped: BTreeSet<String> = shipped().into_keys().collect();
    let settings = Settings::load_with(None, &[]).expect("shipped settings load");
    let in_struct: BTreeSet<String> =
        flatten(&serde_json::to_value(&settings).expect("settings serialise"))
            .into_keys()
            .collect();
    let documented: BTreeSet<String> = documented().into_keys().collect();

    assert_eq!(
        shipped, in_struct,
        "settings.toml and the Settings struct differ"
    );
    let undocumented: Vec<_> = shipped.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&shipped).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from docs/configuration.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents settings that do not exist: {unknown:?}"
    );
}

#[test]
fn documented_defaults_are_the_shipped_values() {
    let shipped = shipped();
    for (key, default) in documented() {
        // A default written in words ("development value") is not a literal to compare.
        let Some(literal) = default.strip_prefix('`').and_then(|d| d.strip_suffix('`')) else {
            continue;
        };
        let value = &shipped[&key];
        let rendered = match value {
            Value::String(s) if s.is_empty() => "\"\"".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(literal, rendered, "documented default of {key}");
    }
}
