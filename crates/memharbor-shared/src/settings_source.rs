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
