//! Structured logs to stdout (`tracing`, text or JSON); `RUST_LOG` overrides the level.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber once; later calls do nothing. chromiumoxide's warnings about
/// CDP messages it cannot parse (newer Chromium) are kept at debug.
pub fn init(debug: bool, json: bool) {
    let default = if debug {
        "debug"
    } else {
        "info,chromiumoxide=error"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .try_init()
    };
}
