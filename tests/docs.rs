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

/// Every choice in docs/protocol-notes.md names the tests that pin it, as `[file.rs: `name`,
/// …]`; each named test must exist in that file, so that a renamed or deleted test cannot
/// leave a choice unpinned.
#[test]
fn every_test_named_in_the_protocol_notes_exists() {
    let notes = include_str!("../docs/protocol-notes.md");
    let sources = rust_sources(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut checked = 0;
    let mut missing = Vec::new();
    for group in notes.split('[').skip(1).filter_map(|g| g.split_once(']')) {
        let mut file: Option<&str> = None;
        for word in group.0.split_whitespace() {
            if let Some(name) = word.strip_suffix(".rs:") {
                file = Some(name);
                continue;
            }
            let Some(file) = file else { continue };
            let name = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
            let quoted = word.starts_with('`');
            if !quoted
                || name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                continue;
            }
            checked += 1;
            let wanted = format!("{file}.rs");
            // `name_…` abbreviates a longer name.
            let definition = if word.contains('…') {
                format!("fn {name}")
            } else {
                format!("fn {name}(")
            };
            let defined = sources
                .iter()
                .any(|(path, text)| path.ends_with(&wanted) && text.contains(&definition));
            if !defined {
                missing.push(format!("{wanted}: {name}"));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} tests named: has the notes' format changed?"
    );
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "named in protocol-notes.md, not found"
    );
}

/// `(path relative to the crate, contents)` of every `.rs` file under `src/` and `tests/`.
fn rust_sources(root: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![root.join("src"), root.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable folder") {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                let relative = path.strip_prefix(root).expect("under the crate");
                found.push((relative.to_string_lossy().into_owned(), text));
            }
        }
    }
    found
}
