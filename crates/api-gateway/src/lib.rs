//! Memharbor's public API gateway: Agora token issuance, API keys, input validation, the request
//! log, and the proxy to the recorder (which records the calls). `main.rs` only loads [`settings::Settings`] and runs
//! [`startup::Application`]; tests build the same application on port 0.

pub mod api_log;
pub mod auth;
pub mod body;
pub mod bot_token;
pub mod client_ip;
pub mod error;
pub mod gate;
pub mod issue;
pub mod json_field;
pub mod metrics;
pub mod recorder_client;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token_request;
