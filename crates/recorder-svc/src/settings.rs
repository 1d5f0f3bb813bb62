//! Typed recorder settings, loaded once: built-in defaults, then `.env`, then the environment.

use std::collections::HashMap;
use std::net::SocketAddr;

use memharbor_shared::settings_source;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Settings {
    pub http_addr: SocketAddr,
    pub debug: bool,
}

/// A setting that is missing or malformed: `variable` names it, `problem` says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:3100";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    recorder_http_addr: Option<String>,
    memharbor_debug: Option<String>,
}

impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let dotenv = settings_source::read_env_file(std::path::Path::new(".env")).map_err(|e| {
            SettingsError {
                variable: "(.env file)",
                problem: format!("cannot be read: {e}"),
            }
        })?;
        Self::from_sources(dotenv, std::env::vars().collect())
    }

    pub fn from_sources(
        dotenv: HashMap<String, String>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let raw: Raw = settings_source::build_config(dotenv, env)
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError {
                variable: "(settings)",
                problem: format!("cannot be read: {e}"),
            })?;
        let http_addr = raw
            .recorder_http_addr
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_HTTP_ADDR);
        let http_addr = http_addr.parse().map_err(|_| SettingsError {
            variable: "RECORDER_HTTP_ADDR",
            problem: format!("must be an address like {DEFAULT_HTTP_ADDR} (got {http_addr:?})"),
        })?;
        let debug = matches!(
            raw.memharbor_debug.as_deref().map(str::trim),
            Some("1" | "true" | "yes" | "on")
        );
        Ok(Self { http_addr, debug })
    }
}
