//! Where recordings are kept, as the rest of the recorder sees it: the local index (always: repeated
//! stops, `GET /api/recording/{sid}` and downloads use it), and where the audio is delivered — the
//! local folder (the embedded default: nothing moves, the stop body says where the files are), or
//! Firebase (an upload job, waited for up to `RECORDER_UPLOAD_WAIT_S`; the stop body says
//! `upload: pending` if it takes longer), whose Firestore then also answers the list.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::firebase::job::{JobState, JobView, QueueSummary};
use super::firebase::{FirebaseError, Firestore, UploadQueue};
use super::{ListQuery, RecordIndex};
use crate::record::{
    LocalLocation, RecordingList, StopAnswer, UploadPhase, UploadState, UploadStatus,
};

/// The recordings of this recorder: the index, and the backend their audio goes to.
#[derive(Debug, Clone)]
pub struct Store {
    pub index: Arc<RecordIndex>,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    /// Files stay in `RECORDER_RECORDINGS_DIR`, served by `GET /api/recording/files/{name}`.
    Local,
    /// Uploaded to Storage and described in Firestore; stop waits up to `wait`.
    Firebase {
        queue: Arc<UploadQueue>,
        firestore: Arc<Firestore>,
        wait: Duration,
    },
}

impl Store {
    /// Everything on local disk (the embedded default).
    pub fn local(index: Arc<RecordIndex>) -> Self {
        Self {
            index,
            backend: Backend::Local,
        }
    }

    /// Delivered to Firebase: uploads through `queue`, the list from `firestore`.
    pub fn firebase(
        index: Arc<RecordIndex>,
        queue: Arc<UploadQueue>,
        firestore: Arc<Firestore>,
        wait: Duration,
    ) -> Self {
        Self {
            index,
            backend: Backend::Firebase {
                queue,
                firestore,
                wait,
            },
        }
    }

    /// The upload queue, with Firebase.
    pub fn uploads(&self) -> Option<&Arc<UploadQueue>> {
        match &self.backend {
            Backend::Firebase { queue, .. } => Some(queue),
            Backend::Local => None,
        }
    }

    /// The upload queue's summary (`None` without Firebase).
    pub fn upload_summary(&self) -> Option<QueueSummary> {
        self.uploads().map(|q| q.summary())
    }

    /// `GET /api/recording/list`: the local index, or Firestore when configured.
    pub async fn list(&self, query: &ListQuery) -> Result<RecordingList, FirebaseError> {
        match &self.backend {
            Backend::Local => Ok(self.index.list(query)),
            Backend::Firebase { firestore, .. } => firestore.list(query).await,
        }
    }

    /// Delivers the files named in `body` and records where they are. With `wait`, a Firebase
    /// delivery is waited for (up to the bound); without, it only starts (crash recovery). An
    /// error means the upload job could not be created: the body says `pending`, and the queue's
    /// housekeeping creates the job later from the saved record.
    pub async fn deliver(&self, body: &mut StopAnswer, wait: bool) -> std::io::Result<()> {
        match &self.backend {
            Backend::Local => {
                body.firebase = None;
                body.local = Some(LocalLocation::for_file(&body.filename));
                for speaker in body.speakers.iter_mut().flatten() {
                    speaker.local = Some(LocalLocation::for_file(&speaker.filename));
                }
                Ok(())
            }
            Backend::Firebase {
                queue, wait: bound, ..
            } => {
                body.local = None;
                let created_at = OffsetDateTime::now_utc();
                // One job per recording: a repeated delivery (a retried save, recovery) reuses it.
                let queued = if queue.view(body.sid).is_some() {
                    Ok(())
                } else {
                    match queue.job_for(body, created_at) {
                        Ok(job) => queue.enqueue(job).await,
                        Err(e) => Err(e),
                    }
                };
                if let Err(e) = queued {
                    // The files stay on disk and listed; housekeeping creates the job later.
                    tracing::error!(sid = %body.sid, error = %e, "cannot queue the upload; the recording stays on local disk until housekeeping queues it");
                    body.firebase = None;
                    body.upload = Some(UploadStatus {
                        state: UploadState::Pending,
                        phase: None,
                        attempts: 0,
                        last_error: Some(QUEUE_FAILED.to_owned()),
                        bytes_uploaded: None,
                        bytes_total: None,
                    });
                    return Err(e);
                }
                let view = if wait {
                    queue.wait(body.sid, *bound).await
                } else {
                    queue.view(body.sid)
                };
                apply(queue, body, view);
                Ok(())
            }
        }
    }

    /// A stored body with the upload's live state laid over it.
    pub fn current(&self, mut body: StopAnswer) -> StopAnswer {
        if let Backend::Firebase { queue, .. } = &self.backend
            && let Some(view) = queue.view(body.sid)
        {
            apply(queue, &mut body, Some(view));
        }
        body
    }
}

/// What clients read in `upload.lastError`: the cause, in general terms. Google's own error
/// bodies (service-account e-mail, bucket, project) go to the operator's log and `/status` only.
const QUEUE_FAILED: &str = "the upload could not be queued yet; it will be";
const REFUSED: &str = "Firebase refused the upload (credentials, permissions or bucket); it is retried once the configuration is fixed";
const FAILED: &str = "the last upload attempt failed; it is retried";

fn apply(queue: &UploadQueue, body: &mut StopAnswer, view: Option<JobView>) {
    let Some(view) = view else { return };
    if view.state == JobState::Done {
        if let Some((mix, speakers)) = queue.locations(body.sid) {
            body.firebase = Some(mix);
            for speaker in body.speakers.iter_mut().flatten() {
                speaker.firebase = speakers.get(&speaker.uid).cloned();
            }
        }
        body.upload = None;
    } else {
        body.firebase = None;
        let phase = match view.state {
            JobState::Refused => UploadPhase::Refused,
            JobState::Uploading => UploadPhase::Uploading,
            JobState::Pending | JobState::Done => UploadPhase::Pending,
        };
        body.upload = Some(UploadStatus {
            state: UploadState::Pending,
            phase: Some(phase),
            attempts: view.attempts,
            last_error: view.last_error.as_ref().map(|_| {
                if phase == UploadPhase::Refused {
                    REFUSED.to_owned()
                } else {
                    FAILED.to_owned()
                }
            }),
            bytes_uploaded: Some(view.bytes_uploaded),
            bytes_total: Some(view.bytes_total),
        });
    }
}
