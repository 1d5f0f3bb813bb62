//! Where finished recordings go and how they are found again.
//!
//! `store` is what the rest of the recorder uses: the index and where the audio is delivered.
//! `index` is always local: every finished session's record (its stop body, history and files),
//! one JSON file each, so repeated stops, `GET /api/recording/{sid}` and downloads survive
//! restarts. `list` is the list's filters and cursor paging; `disk` the free space; `firebase`
//! the Firebase backend.

pub mod disk;
pub mod firebase;
pub mod index;
pub mod list;
pub mod store;

pub use index::{RecordIndex, Recording};
pub use list::ListQuery;
pub use store::Store;
