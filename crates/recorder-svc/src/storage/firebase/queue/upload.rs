//! One attempt at a job: every file uploaded with Storage's resumable protocol (resumed at the
//! last confirmed byte, restarted when the session is gone or stops moving), confirmed by size and
//! MD5, then the Firestore document written. Progress is saved after every step.

use std::sync::Arc;

use super::super::FirebaseError;
use super::super::document::COLLECTION;
use super::super::gcs::{UploadStep, md5_base64};
use super::{Job, UploadQueue};

impl UploadQueue {
    /// One attempt: every file uploaded and confirmed, then the document written.
    pub(super) async fn run(&self, job: &mut Job) -> Result<(), FirebaseError> {
        let storage = Arc::clone(&self.firebase.storage);
        for i in 0..job.files.len() {
            if job.files[i].uploaded {
                continue;
            }
            let path = self.recordings_dir.join(&job.files[i].name);
            if job.files[i].md5.is_none() {
                let md5 = md5_base64(&path).await.map_err(|e| {
                    FirebaseError::Permanent(format!("cannot read {}: {e}", path.display()))
                })?;
                job.files[i].md5 = Some(md5);
                self.save(job).await;
            }
            let (object, size, md5) = (
                job.files[i].object(),
                job.files[i].size,
                job.files[i].md5.clone(),
            );
            if job.files[i].session.is_none() {
                // Done before a crash, unrecorded? Then it is already there.
                if storage
                    .object(&object)
                    .await?
                    .is_some_and(|o| o.size == size && o.md5 == md5)
                {
                    job.files[i].uploaded = true;
                    self.save(job).await;
                    continue;
                }
                job.files[i].session = Some(
                    storage
                        .start_upload(&object, size, &job.files[i].download_token)
                        .await?,
                );
                job.files[i].confirmed = 0;
                self.save(job).await;
            }
            let session = job.files[i].session.clone().unwrap_or_default();
            let mut stalls = 0;
            loop {
                let from = job.files[i].confirmed;
                match storage.send_chunk(&session, &path, size, from).await {
                    Ok(UploadStep::Partial { confirmed }) => {
                        // A session that stops moving forward is restarted, never retried forever.
                        stalls = if confirmed > from { 0 } else { stalls + 1 };
                        if stalls >= 3 {
                            job.files[i].session = None;
                            job.files[i].confirmed = 0;
                            self.save(job).await;
                            return Err(FirebaseError::Transient(format!(
                                "the upload of {} made no progress; starting it again",
                                job.files[i].name
                            )));
                        }
                        job.files[i].confirmed = confirmed;
                        self.save(job).await;
                    }
                    Ok(UploadStep::Done) => break,
                    Err(FirebaseError::SessionGone(why)) => {
                        job.files[i].session = None;
                        job.files[i].confirmed = 0;
                        self.save(job).await;
                        return Err(FirebaseError::Transient(format!(
                            "{why}; starting the upload of {} again",
                            job.files[i].name
                        )));
                    }
                    Err(e) => return Err(e),
                }
            }
            // Nothing counts as stored until Storage confirms it, byte for byte.
            match storage.object(&object).await? {
                Some(o) if o.size == size && o.md5 == md5 => {
                    job.files[i].uploaded = true;
                    job.files[i].confirmed = size;
                    self.save(job).await;
                }
                other => {
                    job.files[i].session = None;
                    job.files[i].confirmed = 0;
                    self.save(job).await;
                    return Err(FirebaseError::Transient(format!(
                        "{} did not verify in Storage (expected {size} bytes, md5 {}; got {:?}); uploading it again",
                        job.files[i].name,
                        md5.unwrap_or_default(),
                        other.map(|o| (o.size, o.md5))
                    )));
                }
            }
        }
        if !job.document_written {
            let id = job.sid.to_string();
            self.firebase
                .firestore
                .upsert(COLLECTION, &id, &job.document.fields())
                .await?;
            job.document_written = true;
            self.save(job).await;
        }
        Ok(())
    }
}
