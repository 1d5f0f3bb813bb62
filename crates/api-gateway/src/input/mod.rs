//! Reading and checking what clients send: the body (content type, size cap, JSON object), a
//! field as the rules see it, and the token request's rules (shared with the recording routes'
//! channel check).

pub mod body;
pub mod json_field;
pub mod token_request;
