//! Where settings come from: built-in defaults, then a `.env` file, then the process environment.
//!
//! Variables keep the original server's names (`AGORA_APP_ID`, …); the `config` crate lower-cases
//! them, so typed settings deserialize from fields like `agora_app_id`.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, ConfigError, Environment};

/// Reads `.env`-style pairs from `path`; a missing file is no error, a malformed one is.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, String> {
    match dotenvy::from_path_iter(path) {
        Ok(iter) => iter
            .map(|item| item.map_err(|e| format!("{}: {e}", path.display())))
            .collect(),
        Err(e) if e.not_found() => Ok(HashMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Merges `.env` pairs (lower priority) and `env` pairs (higher) into one `config` source.
///
/// Tests pass their own maps; `main` passes the `.env` file and `std::env::vars()`.
pub fn build_config(
    dotenv: HashMap<String, String>,
    env: HashMap<String, String>,
) -> Result<Config, ConfigError> {
    Config::builder()
        .add_source(Environment::default().source(Some(dotenv)))
        .add_source(Environment::default().source(Some(env)))
        .build()
}

/// A setting that is missing or malformed: `variable` names it, `problem` says what is accepted
/// (never the value, which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.variable, self.problem)
    }
}

impl std::error::Error for SettingsError {}

/// A [`SettingsError`] for `variable`.
pub fn err(variable: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        variable,
        problem: problem.into(),
    }
}

/// `Some(trimmed)` for a set, non-empty value.
pub fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A yes/no setting (absent = no).
pub fn flag(variable: &'static str, value: Option<&str>) -> Result<bool, SettingsError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(_) => Err(err(variable, "must be 0/1, true/false, yes/no or on/off")),
    }
}

/// A whole number from `min` to `max` (absent = `default`).
pub fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    variable: &'static str,
    value: Option<&str>,
    default: T,
    min: T,
    max: T,
) -> Result<T, SettingsError> {
    let Some(v) = value else { return Ok(default) };
    v.parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
        .ok_or_else(|| {
            err(
                variable,
                format!("must be a whole number from {min} to {max} (got {v:?})"),
            )
        })
}

/// A listen address like `0.0.0.0:8001` (absent = `default`).
pub fn address(
    variable: &'static str,
    value: Option<&str>,
    default: &str,
) -> Result<std::net::SocketAddr, SettingsError> {
    let v = value.unwrap_or(default);
    v.parse().map_err(|_| {
        err(
            variable,
            format!("must be an address like {default} (got {v:?})"),
        )
    })
}

/// An http(s) base URL, without a trailing slash (absent = `default`).
pub fn http_url(
    variable: &'static str,
    value: Option<&str>,
    default: &str,
) -> Result<String, SettingsError> {
    let v = value.unwrap_or(default).trim_end_matches('/');
    let scheme_ok = v.starts_with("http://") || v.starts_with("https://");
    let host_ok = v
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty());
    if scheme_ok && host_ok {
        Ok(v.to_owned())
    } else {
        Err(err(
            variable,
            format!("must be an http(s) URL like {default}"),
        ))
    }
}

/// `text` or `json` (absent = text): whether stdout logs are JSON.
pub fn log_format(value: Option<&str>) -> Result<bool, SettingsError> {
    match value {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(_) => Err(err("MEMHARBOR_LOG_FORMAT", "must be text or json")),
    }
}

/// `MEMHARBOR_SECRET_KEY`, which both services require: the same random value, at least 32
/// bytes, not a published placeholder.
pub fn secret_key(value: Option<&str>) -> Result<String, SettingsError> {
    let Some(v) = value else {
        return Err(err(
            "MEMHARBOR_SECRET_KEY",
            "is missing: set the same random value (at least 32 bytes) for the gateway and the recorder; `make env` writes one into .env",
        ));
    };
    crate::internal_auth::check_secret(v)
        .map_err(|problem| err("MEMHARBOR_SECRET_KEY", problem))?;
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_name_the_variable_and_what_is_accepted() {
        assert_eq!(flag("F", Some("ON")), Ok(true));
        assert_eq!(flag("F", None), Ok(false));
        assert_eq!(flag("F", Some("maybe")).unwrap_err().variable, "F");
        assert_eq!(number("N", Some("5"), 1u32, 1, 10), Ok(5));
        assert_eq!(number("N", None, 3u32, 1, 10), Ok(3));
        assert!(
            number("N", Some("11"), 1u32, 1, 10)
                .unwrap_err()
                .problem
                .contains("1 to 10")
        );
        assert!(address("A", Some("nowhere"), "0.0.0.0:1").is_err());
        assert_eq!(
            http_url("U", Some("http://h:1/"), "http://x").unwrap(),
            "http://h:1"
        );
        assert!(http_url("U", Some("ftp://h"), "http://x").is_err());
        assert!(http_url("U", Some("http://"), "http://x").is_err());
        assert_eq!(present(&Some("  ".into())), None);
        assert_eq!(log_format(Some("json")), Ok(true));
    }
}
