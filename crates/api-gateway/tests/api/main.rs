//! The gateway's integration tests: the real application on port 0, driven over HTTP.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod api_log;
mod auth;
mod health;
mod helpers;
mod malformed;
mod metrics;
mod nginx;
mod openapi;
mod recording;
mod startup;
mod token;
mod user_recordings;
mod users;
