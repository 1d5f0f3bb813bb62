//! What the gateway and the recorder must agree on, in one place: the internal API's messages
//! (which are the public API's bodies too), the recording channel's form, the JSON error body, the key the gateway proves itself with to the recorder, where settings
//! come from (`.env` below the process environment), and how HTTP requests are counted.

pub mod channel;
pub mod cluster;
pub mod error_body;
pub mod http_metrics;
pub mod internal_api;
pub mod internal_auth;
pub mod settings_source;
