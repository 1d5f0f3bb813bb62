//! The recorder's integration tests: the real service, real headless Chromium, real ffmpeg, the
//! Agora stand-in (tests/standin) playing scripted participants as remote WebRTC tracks.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod audio;
mod auth;
mod durability;
mod firebase;
mod isolation;
mod helpers {
    pub use memharbor_testkit::*;
}
mod lifecycle;
mod load;
mod ops;
mod process;
mod real_sdk;
mod resilience;
mod upload;
