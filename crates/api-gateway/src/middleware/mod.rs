//! What every request passes through, whatever its route: the gate (request ids, who is calling,
//! metrics, failure logs), the client's address, and the request log.

pub mod api_log;
pub mod client_ip;
pub mod gate;
