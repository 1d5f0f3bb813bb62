//! Memharbor's recorder service. `main.rs` only loads [`settings::Settings`] and runs
//! [`startup::Application`]; tests build the same application on port 0.

pub mod settings;
pub mod startup;
pub mod telemetry;
