//! Structured logs to stdout (`tracing`, text or JSON). Per-request ids and failure logs are
//! the [`crate::middleware::gate`] middleware's.

use std::io::IsTerminal as _;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::TelemetrySettings;

/// Installs the global subscriber once; `RUST_LOG` (`target=level` list) overrides the level.
/// A plain target filter rather than `EnvFilter`: per-request spans are on the hot path.
pub fn init(settings: &TelemetrySettings) {
    let default = if settings.debug { "debug" } else { "info" };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().unwrap_or_default());
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if settings.json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init()
    } else {
        let ansi = std::io::stdout().is_terminal();
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .try_init()
    };
}
