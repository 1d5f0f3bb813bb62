//! What idle workers do: put the Firebase locations of finished uploads in the recordings'
//! records, queue the uploads of recordings saved as pending whose job could not be created, and
//! drop local copies past `RECORDER_KEEP_LOCAL_DAYS`.

use std::fs;
use std::io;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{Job, UploadQueue};
use crate::record::StopAnswer;

impl UploadQueue {
    /// Puts the Firebase locations in the recording's record (once it exists).
    pub(super) async fn update_index(&self, job: &mut Job) {
        if job.index_updated || job.done_at.is_none() {
            return;
        }
        let Some((mix, speakers)) = self.locations(job.sid) else {
            return;
        };
        let index = Arc::clone(&self.index);
        let sid = job.sid;
        let updated = tokio::task::spawn_blocking(move || {
            index.update(sid, |record| {
                record.body.firebase = Some(mix.clone());
                record.body.upload = None;
                for speaker in record.body.speakers.iter_mut().flatten() {
                    speaker.firebase = speakers.get(&speaker.uid).cloned();
                }
            })
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        match updated {
            Ok(true) => {
                job.index_updated = true;
                self.save(job).await;
            }
            Ok(false) => {} // not saved yet (stop is finishing): housekeeping retries
            Err(e) => {
                tracing::error!(sid = %job.sid, error = %e, "cannot update a recording's record")
            }
        }
    }

    /// Queues the recordings saved as `pending` whose job could not be created at the time (the
    /// disk was full, the jobs folder unwritable…); they would otherwise never reach Firebase.
    async fn queue_missing_jobs(&self) {
        let missing: Vec<StopAnswer> = self
            .index
            .all()
            .into_iter()
            .filter(|r| r.body.firebase.is_none() && r.body.upload.is_some())
            .filter(|r| !self.entries().contains_key(&r.body.sid))
            .map(|r| r.body.clone())
            .collect();
        for body in missing {
            let queued = match self.job_for(&body, OffsetDateTime::now_utc()) {
                Ok(job) => self.enqueue(job).await,
                Err(e) => Err(e),
            };
            match queued {
                Ok(()) => {
                    tracing::warn!(sid = %body.sid, "queued the upload of a recording whose job was missing")
                }
                Err(e) => {
                    tracing::error!(sid = %body.sid, error = %e, "still cannot queue the upload of a pending recording")
                }
            }
        }
    }

    /// Finishes index updates that had to wait, queues what is missing, and drops local copies
    /// past their keeping time.
    pub(super) async fn housekeeping(&self) {
        self.queue_missing_jobs().await;
        let done: Vec<Job> = self
            .entries()
            .values()
            .filter(|e| !e.0.running && e.0.job.done_at.is_some())
            .map(|e| e.0.job.clone())
            .collect();
        for mut job in done {
            self.update_index(&mut job).await;
            let expired = job
                .done_at
                .is_some_and(|d| OffsetDateTime::now_utc() - d >= self.keep_local);
            if job.index_updated && expired {
                for file in &job.files {
                    let _ = fs::remove_file(self.recordings_dir.join(&file.name));
                }
                let _ = fs::remove_file(self.dir.join(format!("{}.json", job.sid)));
                self.entries().remove(&job.sid);
                tracing::info!(sid = %job.sid, "local copy removed after its keeping time");
            }
        }
    }
}
