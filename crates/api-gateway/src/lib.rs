//! Memharbor's public API gateway: Agora token issuance, API keys, input validation, the request
//! log, and the proxy to the recorder (which records the calls) — or, in cluster mode, to the
//! recorder of the cluster that holds each session (`recorders`). `main.rs` only loads
//! [`settings::Settings`] and runs [`startup::Application`]; tests build the same application
//! on port 0.

pub mod auth;
pub mod error;
pub mod input;
pub mod metrics;
pub mod middleware;
pub mod recorder_client;
pub mod recorders;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
