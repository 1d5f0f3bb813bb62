//! Memharbor's recorder service: headless Chromium bots that join Agora channels invisibly and
//! record every voice into WAV files, as the audio arrives. `main.rs` only loads
//! [`settings::Settings`] and runs [`startup::Application`]; tests build the same application.
//!
//! Codemap: `browser` (Chromium, the only chromiumoxide user), `page_server` (the loopback
//! recorder page and its WebSocket), `session` (one supervisor per recording), `audio` (chunks →
//! WAV; ffmpeg and hound live here), `record` (what a finished recording is), `journal` (what a
//! recording in progress leaves on disk), `storage` (the index, and where the audio goes),
//! `recovery` (repairs), `routes` (internal API and ops), `gateway_client` (fresh bot tokens),
//! `cluster` (cluster mode: heartbeats and channel claims in the Firestore directory),
//! `webhooks` (every recording event, signed and delivered from a durable outbox), `durable`
//! (crash-safe file writes).

pub mod audio;
pub mod browser;
pub mod cluster;
pub mod continuity;
pub mod durable;
pub mod error;
pub mod gateway_client;
pub mod journal;
pub mod metrics;
pub mod page_server;
pub mod record;
pub mod recovery;
pub mod routes;
pub mod session;
pub mod settings;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
