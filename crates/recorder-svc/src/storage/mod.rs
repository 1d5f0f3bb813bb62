//! Where finished recordings go and how they are found again.
//!
//! `index` is always local: every finished session's record (its stop body, history and files),
//! one JSON file each, so repeated stops, `GET /api/recording/{sid}` and downloads survive
//! restarts. `destination` is where the audio is delivered: the local folder (the embedded default)
//! or, when configured, Firebase. `list` reads the catalogue of the active destination.

pub mod destination;
pub mod disk;
pub mod firebase;
pub mod index;
pub mod list;

use std::sync::Arc;

pub use destination::Destination;
pub use index::{RecordIndex, Recording};
pub use list::ListQuery;

use crate::record::RecordingList;

/// Where `GET /api/recording/list` reads from: the local index, or Firestore when configured.
#[derive(Debug, Clone)]
pub enum Catalog {
    Local(Arc<RecordIndex>),
    Firestore(Arc<firebase::Firestore>),
}

impl Catalog {
    pub async fn list(&self, query: &ListQuery) -> Result<RecordingList, firebase::FirebaseError> {
        match self {
            Catalog::Local(index) => Ok(index.list(query)),
            Catalog::Firestore(firestore) => firestore.list(query).await,
        }
    }
}
