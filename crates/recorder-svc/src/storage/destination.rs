//! Where a finished recording's audio is delivered: the local folder (the embedded default: nothing
//! moves, the stop body says where the files are), or Firebase (an upload job, waited for up to
//! `RECORDER_UPLOAD_WAIT_S`; the stop body says `upload: pending` if it takes longer).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::firebase::UploadQueue;
use super::firebase::jobs::JobView;
use crate::session::view::{LocalLocation, StopBody, iso_ms};

#[derive(Debug, Clone)]
pub enum Destination {
    /// Files stay in `RECORDER_RECORDINGS_DIR`, served by `GET /api/recording/files/{name}`.
    Local,
    /// Uploaded to Storage and described in Firestore; stop waits up to `wait`.
    Firebase {
        queue: Arc<UploadQueue>,
        wait: Duration,
    },
}

impl Destination {
    /// Delivers the files named in `body` and records where they are. With `wait`, a Firebase
    /// delivery is waited for (up to the bound); without, it only starts (crash recovery).
    pub async fn deliver(&self, body: &mut StopBody, wait: bool) {
        match self {
            Destination::Local => {
                body.firebase = None;
                body.local = Some(LocalLocation::for_file(&body.filename));
                for speaker in body.speakers.iter_mut().flatten() {
                    speaker.local = Some(LocalLocation::for_file(&speaker.filename));
                }
            }
            Destination::Firebase { queue, wait: bound } => {
                body.local = None;
                let created_at = iso_ms(OffsetDateTime::now_utc());
                let queued = queue
                    .job_for(body, &created_at)
                    .and_then(|job| queue.enqueue(job));
                if let Err(e) = queued {
                    // The files stay on disk and listed; the operator sees this in the logs.
                    tracing::error!(sid = %body.sid, error = %e, "cannot queue the upload; the recording stays on local disk");
                    body.firebase = None;
                    body.upload = Some(
                        json!({"state": "pending", "attempts": 0, "lastError": format!("the upload could not be queued: {e}")}),
                    );
                    return;
                }
                let view = if wait {
                    queue.wait(body.sid, *bound).await
                } else {
                    queue.view(body.sid)
                };
                apply(queue, body, view);
            }
        }
    }

    /// A stored body with the upload's live state laid over it.
    pub fn current(&self, mut body: StopBody) -> StopBody {
        if let Destination::Firebase { queue, .. } = self
            && let Some(view) = queue.view(body.sid)
        {
            apply(queue, &mut body, Some(view));
        }
        body
    }
}

fn apply(queue: &UploadQueue, body: &mut StopBody, view: Option<JobView>) {
    let Some(view) = view else { return };
    if view.state == "done" {
        if let Some((mix, speakers)) = queue.locations(body.sid) {
            body.firebase = Some(mix);
            for speaker in body.speakers.iter_mut().flatten() {
                speaker.firebase = speakers.get(&speaker.uid).cloned();
            }
        }
        body.upload = None;
    } else {
        body.firebase = None;
        body.upload = Some(json!({
            "state": "pending",
            "phase": view.state,
            "attempts": view.attempts,
            "lastError": view.last_error,
            "bytesUploaded": view.bytes_uploaded,
            "bytesTotal": view.bytes_total,
        }));
    }
}
