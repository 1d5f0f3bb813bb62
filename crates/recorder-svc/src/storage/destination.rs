//! Where a finished recording's audio is delivered. The embedded default is the local folder:
//! nothing moves, the stop body says where the files are. (Firebase plugs in here.)

use crate::session::view::{LocalLocation, StopBody};

#[derive(Debug, Clone)]
pub enum Destination {
    /// Files stay in `RECORDER_RECORDINGS_DIR`, served by `GET /api/recording/files/{name}`.
    Local,
}

impl Destination {
    /// Delivers the files named in `body` and records where they are.
    pub async fn deliver(&self, body: &mut StopBody) {
        match self {
            Destination::Local => {
                body.firebase = None;
                body.local = Some(LocalLocation::for_file(&body.filename));
                for speaker in body.speakers.iter_mut().flatten() {
                    speaker.local = Some(LocalLocation::for_file(&speaker.filename));
                }
            }
        }
    }
}
