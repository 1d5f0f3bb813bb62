//! The upload queue: a stopped recording's way to Firebase, its job persisted on disk before stop
//! answers and worked on until every file is confirmed in Storage (size and MD5) and the Firestore
//! document is written. This module schedules: it loads, queues, waits for and shows jobs, and
//! runs the workers, which retry with backoff — quickly for the network and 5xx, slowly for
//! refusals (401/403/missing bucket), which need the configuration fixed — and across restarts.
//! `upload` is one attempt (the resumable upload protocol, resumed at the last confirmed byte);
//! `housekeeping` what idle workers do (index updates, missing jobs, expired local copies).

mod housekeeping;
mod upload;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::Firebase;
use super::document::{RecordingDocument, Uploaded};
pub use super::job::{Job, JobFile, JobState, JobView, QueueSummary};
use crate::durable::write_atomically;
use crate::record::{FirebaseLocation, StopAnswer};
use crate::storage::RecordIndex;
use crate::webhooks::{EventType, Events};

/// Waits between attempts after transient failures (the last repeats).
const BACKOFF_S: [u64; 7] = [1, 2, 4, 8, 15, 30, 60];
/// Wait after a refusal (credentials, permissions, missing bucket): they need an operator.
const REFUSED_RETRY: Duration = Duration::from_secs(1800);
/// Uploads worked on at once.
const WORKERS: usize = 2;
/// Idle workers look for housekeeping at least this often.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15);

pub(super) struct Entry {
    job: Job,
    running: bool,
    next_attempt: Instant,
    enqueued: Instant,
}

#[derive(Debug)]
pub struct UploadQueue {
    dir: PathBuf,
    recordings_dir: PathBuf,
    firebase: Firebase,
    index: Arc<RecordIndex>,
    keep_local: Duration,
    entries: Mutex<BTreeMap<Uuid, EntryBox>>,
    failures: prometheus_client::metrics::counter::Counter,
    /// `recording.uploaded`, and `recording.failed` when Firebase refuses.
    events: Events,
    wake: Notify,
    changed: watch::Sender<u64>,
}

/// `Entry` behind a `Debug` the queue can print.
pub(super) struct EntryBox(Entry);

impl std::fmt::Debug for EntryBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("sid", &self.0.job.sid)
            .finish_non_exhaustive()
    }
}

/// How long to wait after a failed attempt (the `attempts`-th): the transient schedule, or the
/// long wait for a refusal.
fn backoff(attempts: u32, refused: bool) -> Duration {
    if refused {
        REFUSED_RETRY
    } else {
        let i = (attempts.max(1) as usize - 1).min(BACKOFF_S.len() - 1);
        Duration::from_secs(BACKOFF_S[i])
    }
}

impl UploadQueue {
    /// Loads the jobs left in `dir` (every unfinished one is tried as soon as the workers run).
    /// The workers start with [`UploadQueue::start_workers`], after crash recovery has queued what
    /// it found, so that no job is worked on while recovery could still be looking at it.
    pub fn load(
        dir: &Path,
        recordings_dir: &Path,
        firebase: Firebase,
        index: Arc<RecordIndex>,
        keep_local: Duration,
        failures: prometheus_client::metrics::counter::Counter,
        events: Events,
    ) -> io::Result<Arc<Self>> {
        fs::create_dir_all(dir)?;
        let mut entries = BTreeMap::new();
        for entry in fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                match fs::read(&path).map(|b| serde_json::from_slice::<Job>(&b)) {
                    Ok(Ok(job)) => {
                        entries.insert(
                            job.sid,
                            EntryBox(Entry {
                                job,
                                running: false,
                                next_attempt: Instant::now(),
                                enqueued: Instant::now(),
                            }),
                        );
                    }
                    _ => {
                        tracing::error!(path = %path.display(), "unreadable upload job kept for inspection")
                    }
                }
            }
        }
        let queue = Arc::new(Self {
            dir: dir.to_owned(),
            recordings_dir: recordings_dir.to_owned(),
            firebase,
            index,
            keep_local,
            entries: Mutex::new(entries),
            failures,
            events,
            wake: Notify::new(),
            changed: watch::channel(0).0,
        });
        Ok(queue)
    }

    /// Starts the upload workers (once).
    pub fn start_workers(self: &Arc<Self>) {
        for _ in 0..WORKERS {
            tokio::spawn(Arc::clone(self).work());
        }
    }

    pub(super) fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, EntryBox>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `job` durably, off the async threads (it fsyncs).
    async fn persist(&self, job: &Job) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(job).map_err(io::Error::other)?;
        let path = self.dir.join(format!("{}.json", job.sid));
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(io::Error::other)?
    }

    fn notify_change(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// The job for a stopped recording (its files on disk, its document), with download tokens.
    pub fn job_for(&self, body: &StopAnswer, created_at: OffsetDateTime) -> io::Result<Job> {
        let mut files = Vec::new();
        let mut add = |name: &str, uid: Option<u32>| -> io::Result<()> {
            let size = fs::metadata(self.recordings_dir.join(name))?.len();
            files.push(JobFile {
                name: name.to_owned(),
                uid,
                size,
                md5: None,
                download_token: Uuid::new_v4().to_string(),
                session: None,
                confirmed: 0,
                uploaded: false,
            });
            Ok(())
        };
        add(&body.filename, None)?;
        for speaker in body.speakers.iter().flatten() {
            add(&speaker.filename, Some(speaker.uid))?;
        }
        let storage = &self.firebase.storage;
        let uploaded = |f: &JobFile| Uploaded {
            storage_path: f.object(),
            url: storage.download_url(&f.object(), &f.download_token),
        };
        let speakers: Vec<Uploaded> = files.iter().skip(1).map(uploaded).collect();
        let document = RecordingDocument::new(body, &uploaded(&files[0]), &speakers, created_at);
        Ok(Job {
            sid: body.sid,
            created_at,
            files,
            document,
            document_written: false,
            attempts: 0,
            last_error: None,
            refused: false,
            done_at: None,
            index_updated: false,
        })
    }

    /// Persists `job` (durably) and queues it. One job per recording: if one exists for its sid
    /// (recovery after a crash during the upload wait, a repeated delivery), it is kept and this
    /// one dropped, so no object is ever uploaded twice with different download tokens.
    pub async fn enqueue(&self, job: Job) -> io::Result<()> {
        if self.entries().contains_key(&job.sid) {
            return Ok(());
        }
        self.persist(&job).await?;
        self.entries().entry(job.sid).or_insert(EntryBox(Entry {
            job,
            running: false,
            next_attempt: Instant::now(),
            enqueued: Instant::now(),
        }));
        self.notify_change();
        self.wake.notify_waiters();
        Ok(())
    }

    /// Where the job's files will be (known before they are uploaded).
    pub fn locations(
        &self,
        sid: Uuid,
    ) -> Option<(FirebaseLocation, BTreeMap<u32, FirebaseLocation>)> {
        let entries = self.entries();
        let job = &entries.get(&sid)?.0.job;
        let storage = &self.firebase.storage;
        let loc = |f: &JobFile| FirebaseLocation {
            url: storage.download_url(&f.object(), &f.download_token),
            firestore_id: job.sid.to_string(),
            storage_path: f.object(),
        };
        let mix = loc(&job.files[0]);
        let speakers = job
            .files
            .iter()
            .filter_map(|f| f.uid.map(|uid| (uid, loc(f))))
            .collect();
        Some((mix, speakers))
    }

    pub fn view(&self, sid: Uuid) -> Option<JobView> {
        self.entries().get(&sid).map(|e| view_of(&e.0))
    }

    /// Waits until the job is done, or `timeout`; returns its view then.
    pub async fn wait(&self, sid: Uuid, timeout: Duration) -> Option<JobView> {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let view = self.view(sid)?;
            if view.state == JobState::Done {
                return Some(view);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return self.view(sid);
            }
        }
    }

    pub fn summary(&self) -> QueueSummary {
        let entries = self.entries();
        let mut s = QueueSummary::default();
        for e in entries.values() {
            let e = &e.0;
            match view_of(e).state {
                JobState::Done => s.done += 1,
                JobState::Refused => s.refused += 1,
                JobState::Uploading => s.uploading += 1,
                JobState::Pending => s.pending += 1,
            }
            if e.job.done_at.is_none() {
                if e.job.attempts > 0 && e.job.last_error.is_some() {
                    s.failing += 1;
                    s.last_error.clone_from(&e.job.last_error);
                }
                let age = e.enqueued.elapsed().as_secs();
                s.oldest_pending_age_s = Some(s.oldest_pending_age_s.map_or(age, |a| a.max(age)));
            }
        }
        s
    }

    // ---- the workers --------------------------------------------------------------------------

    async fn work(self: Arc<Self>) {
        loop {
            let claimed = {
                let now = Instant::now();
                let mut entries = self.entries();
                let next = entries
                    .values_mut()
                    .filter(|e| {
                        !e.0.running && e.0.job.done_at.is_none() && e.0.next_attempt <= now
                    })
                    .min_by_key(|e| e.0.next_attempt);
                next.map(|e| {
                    e.0.running = true;
                    e.0.job.clone()
                })
            };
            match claimed {
                Some(job) => self.attempt(job).await,
                None => {
                    self.housekeeping().await;
                    let sleep = self
                        .until_next_attempt()
                        .unwrap_or(HOUSEKEEPING_EVERY)
                        .min(HOUSEKEEPING_EVERY);
                    let notified = self.wake.notified();
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(sleep) => {}
                    }
                }
            }
        }
    }

    fn until_next_attempt(&self) -> Option<Duration> {
        let now = Instant::now();
        self.entries()
            .values()
            .filter(|e| !e.0.running && e.0.job.done_at.is_none())
            .map(|e| e.0.next_attempt.saturating_duration_since(now))
            .min()
    }

    /// Saves `job` to disk and memory, then tells waiters.
    pub(super) async fn save(&self, job: &Job) {
        if let Err(e) = self.persist(job).await {
            tracing::error!(sid = %job.sid, error = %e, "cannot persist an upload job");
        }
        if let Some(entry) = self.entries().get_mut(&job.sid) {
            entry.0.job = job.clone();
        }
        self.notify_change();
    }

    async fn attempt(&self, mut job: Job) {
        job.attempts += 1;
        let result = self.run(&mut job).await;
        let wait = match &result {
            Ok(()) => Duration::ZERO,
            Err(e) => {
                self.failures.inc();
                job.refused = e.is_permanent();
                job.last_error = Some(e.to_string());
                tracing::warn!(sid = %job.sid, attempt = job.attempts, error = %e, refused = job.refused, "upload failed; will retry");
                backoff(job.attempts, job.refused)
            }
        };
        if job.refused {
            self.emit(
                &job,
                EventType::Failed,
                serde_json::json!({
                    "stage": "upload",
                    "error": job.last_error,
                    "retried": true,
                }),
            )
            .await;
        }
        if result.is_ok() {
            // Heard before the job is marked done: a crash in between emits it again, same id.
            self.emit(&job, EventType::Uploaded, self.uploaded(&job))
                .await;
            job.done_at = Some(OffsetDateTime::now_utc());
            job.last_error = None;
            job.refused = false;
            tracing::info!(sid = %job.sid, files = job.files.len(), attempts = job.attempts, "recording uploaded and described in Firestore");
        }
        self.save(&job).await;
        if let Some(entry) = self.entries().get_mut(&job.sid) {
            entry.0.running = false;
            entry.0.next_attempt = Instant::now() + wait;
        }
        if result.is_ok() {
            self.update_index(&mut job).await;
        }
    }
}

impl UploadQueue {
    async fn emit(&self, job: &Job, kind: EventType, data: serde_json::Value) {
        self.events.emit(job.sid, kind, data).await;
    }

    /// `recording.uploaded`'s data: every object (path, URL, size, MD5) and the document.
    fn uploaded(&self, job: &Job) -> serde_json::Value {
        let storage = &self.firebase.storage;
        let files: Vec<_> = job
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "filename": f.name,
                    "uid": f.uid,
                    "storagePath": f.object(),
                    "url": storage.download_url(&f.object(), &f.download_token),
                    "size": f.size,
                    "md5": f.md5,
                })
            })
            .collect();
        serde_json::json!({
            "firestoreId": job.sid.to_string(),
            "files": files,
        })
    }
}

fn view_of(e: &Entry) -> JobView {
    let job = &e.job;
    let state = if job.done_at.is_some() {
        JobState::Done
    } else if e.running {
        JobState::Uploading
    } else if job.refused {
        JobState::Refused
    } else {
        JobState::Pending
    };
    JobView {
        state,
        attempts: job.attempts,
        last_error: job.last_error.clone(),
        bytes_uploaded: job
            .files
            .iter()
            .map(|f| if f.uploaded { f.size } else { f.confirmed })
            .sum(),
        bytes_total: job.files.iter().map(|f| f.size).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_then_hold_and_refusals_wait_for_an_operator() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n, false).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 15, 30, 60, 60, 60]);
        assert_eq!(backoff(0, false).as_secs(), 1);
        assert_eq!(backoff(3, true), REFUSED_RETRY);
    }
}
