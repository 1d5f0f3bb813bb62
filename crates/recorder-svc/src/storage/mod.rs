//! Where finished recordings go and how they are found again.
//!
//! `index` is always local: every finished session's record (its stop body, history and files),
//! one JSON file each, so repeated stops, `GET /api/recording/{sid}` and downloads survive
//! restarts. `destination` is where the audio is delivered: the local folder (the embedded default)
//! or, when configured, Firebase. `list` reads the catalogue of the active destination.

pub mod destination;
pub mod index;
pub mod list;

pub use destination::Destination;
pub use index::{RecordIndex, StoredRecording};
pub use list::{ListPage, ListQuery, RecordingItem};
