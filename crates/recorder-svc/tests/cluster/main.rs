//! The cluster: many recorders and gateways on Google's Firestore emulator. `directory` checks
//! the directory's guarantees on their own (claims, liveness, resets); the other modules run the
//! recorder binary as processes, gateways in-process, and the Agora stand-in.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod continuity;
mod directory;
// Shared with the webhook tests and benches/cluster.rs: not every helper is used by each.
#[allow(dead_code)]
mod harness;
mod outage;
mod placement;
