//! What every request passes through, whatever its route: the gate (request ids, API keys,
//! metrics, failure logs), the API-key check itself, the client's address, and the request log.

pub mod api_log;
pub mod auth;
pub mod client_ip;
pub mod gate;
