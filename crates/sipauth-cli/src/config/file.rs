//! Stage one, the file: reads `[profiles.NAME]` of the TOML configuration key by key (an
//! unknown key or a bad value is named with its line) and lays one profile over another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::CliError;
use crate::opt::Profile;

/// The configuration file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    profiles: BTreeMap<String, toml::Table>,
}

/// The default configuration file: `<config dir>/sipauth/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sipauth").join("config.toml"))
}

/// Reads one profile from a configuration file. A missing default file is fine; a file given
/// explicitly must exist. Unknown keys and invalid values name the key and the file.
pub fn load_profile(path: Option<&Path>, name: &str) -> Result<Profile, CliError> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(Profile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Profile::default())
        }
        Err(e) => {
            return Err(CliError::config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    profile_from_text(&text, &path, name)
}

/// Reads one profile from the text of a configuration file (`path` names it in errors).
pub fn profile_from_text(text: &str, path: &Path, name: &str) -> Result<Profile, CliError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        let start = e.span().map(|s| s.start.min(text.len())).unwrap_or(0);
        let line_no = text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        // Name the key the error points at (`key = value` on that line), unless the message does.
        let key = text
            .lines()
            .nth(line_no - 1)
            .and_then(|line| line.split_once('='))
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !message.contains(k.as_str()));
        let key = key.map(|k| format!(" key `{k}`:")).unwrap_or_default();
        CliError::config(format!("{}:{line_no}:{key} {message}", path.display()))
    })?;
    match file.profiles.get(name) {
        Some(table) => profile_from_table(text, path, name, table),
        None if name == "default" => Ok(Profile::default()),
        None => Err(CliError::config(format!(
            "no profile [profiles.{name}] in {}",
            path.display()
        ))),
    }
}

/// A profile from its table, key by key, so an unknown key or an invalid value is named with
/// its line (a profile's fields are grouped, which serde cannot check for unknown keys itself).
fn profile_from_table(
    text: &str,
    path: &Path,
    name: &str,
    table: &toml::Table,
) -> Result<Profile, CliError> {
    let known = Profile::keys();
    let fail = |key: &str, message: String| {
        let line = key_line(text, name, key);
        CliError::config(format!("{}:{line}: key `{key}`: {message}", path.display()))
    };
    for (key, value) in table {
        if !known.iter().any(|k| k == key) {
            return Err(fail(key, "unknown key".into()));
        }
        let mut single = toml::Table::new();
        single.insert(key.clone(), value.clone());
        if let Err(e) = Profile::deserialize(toml::Value::Table(single)) {
            return Err(fail(key, e.message().to_string()));
        }
    }
    Profile::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        CliError::config(format!(
            "{}: [profiles.{name}]: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The line (1-based) of `key = ...` inside `[profiles.NAME]`, or of the table's header.
fn key_line(text: &str, name: &str, key: &str) -> usize {
    let header = format!("[profiles.{name}]");
    let mut in_table = false;
    let mut header_line = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed == header || trimmed == format!("[profiles.\"{name}\"]");
            if in_table {
                header_line = i + 1;
            }
            continue;
        }
        if in_table {
            if let Some((k, _)) = trimmed.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return i + 1;
                }
            }
        }
    }
    header_line
}

/// `upper`'s set fields over `lower`.
pub fn overlay(upper: &Profile, lower: &Profile) -> Profile {
    let to_map = |p: &Profile| match serde_json::to_value(p) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mut merged = to_map(lower);
    merged.extend(to_map(upper));
    serde_json::from_value(Value::Object(merged)).unwrap_or_else(|_| upper.clone())
}
