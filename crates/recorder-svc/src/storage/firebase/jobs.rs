//! Upload jobs: a stopped recording's way to Firebase, persisted on disk before stop answers and
//! worked on until every file is confirmed in Storage (size and MD5) and the Firestore document is
//! written. Failures are retried with backoff — quickly for the network and 5xx, slowly for
//! refusals (401/403/missing bucket), which need the configuration fixed — and across restarts,
//! resuming an interrupted upload at its last confirmed byte. Local files are kept until then, and
//! for `RECORDER_KEEP_LOCAL_DAYS` after.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::gcs::{UploadStep, md5_base64};
use super::job::write_atomically;
pub use super::job::{Job, JobFile, JobView, QueueSummary};
use super::{Firebase, FirebaseError};
use crate::session::view::{FirebaseLocation, StopBody, iso_ms};
use crate::storage::RecordIndex;
use crate::storage::list::SPEC;

/// Waits between attempts after transient failures (the last repeats).
const BACKOFF_S: [u64; 7] = [1, 2, 4, 8, 15, 30, 60];
/// Wait after a refusal (credentials, permissions, missing bucket): they need an operator.
const REFUSED_RETRY: Duration = Duration::from_secs(1800);
/// Uploads worked on at once.
const WORKERS: usize = 2;
/// Idle workers look for housekeeping at least this often.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15);

struct Entry {
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
    wake: Notify,
    changed: watch::Sender<u64>,
}

/// `Entry` behind a `Debug` the queue can print.
struct EntryBox(Entry);

impl std::fmt::Debug for EntryBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("sid", &self.0.job.sid)
            .finish_non_exhaustive()
    }
}

fn now_iso() -> String {
    iso_ms(OffsetDateTime::now_utc())
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

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, EntryBox>> {
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
    pub fn job_for(&self, body: &StopBody, created_at: &str) -> io::Result<Job> {
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
        let url = |f: &JobFile| storage.download_url(&f.object(), &f.download_token);
        let mut document = Map::new();
        for (key, value) in [
            ("filename", json!(body.filename)),
            ("url", json!(url(&files[0]))),
            ("channel", json!(body.channel)),
            ("groupId", json!(body.group_id)),
            ("user1", json!(body.user1)),
            ("user2", json!(body.user2)),
            ("duration", json!(body.duration)),
            ("fileSize", json!(body.file_size)),
            ("format", json!("wav")),
            ("spec", serde_json::to_value(SPEC).unwrap_or(Value::Null)),
            ("recordedAt", json!(body.started_at)),
            ("createdAt", json!(created_at)),
            // Extras (the spec allows them):
            ("sid", json!(body.sid.to_string())),
            (
                "stopReason",
                serde_json::to_value(body.stop_reason).unwrap_or(Value::Null),
            ),
            ("storagePath", json!(files[0].object())),
        ] {
            document.insert(key.to_owned(), value);
        }
        if let Some(speakers) = &body.speakers {
            let list: Vec<Value> = speakers
                .iter()
                .zip(files.iter().skip(1))
                .map(|(s, f)| json!({"uid": s.uid, "filename": s.filename, "url": url(f), "storagePath": f.object(), "duration": s.duration, "fileSize": s.file_size}))
                .collect();
            document.insert("speakers".to_owned(), Value::Array(list));
        }
        Ok(Job {
            sid: body.sid,
            created_at: created_at.to_owned(),
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
            if view.state == "done" {
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
                "done" => s.done += 1,
                "refused" => s.refused += 1,
                "uploading" => s.uploading += 1,
                _ => s.pending += 1,
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
    async fn save(&self, job: &Job) {
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
                if job.refused {
                    REFUSED_RETRY
                } else {
                    Duration::from_secs(
                        BACKOFF_S[(job.attempts as usize - 1).min(BACKOFF_S.len() - 1)],
                    )
                }
            }
        };
        if result.is_ok() {
            job.done_at = Some(now_iso());
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

    /// One attempt: every file uploaded and confirmed, then the document written.
    async fn run(&self, job: &mut Job) -> Result<(), FirebaseError> {
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
                .upsert(super::firestore::COLLECTION, &id, &job.document)
                .await?;
            job.document_written = true;
            self.save(job).await;
        }
        Ok(())
    }

    /// Puts the Firebase locations in the recording's record (once it exists).
    async fn update_index(&self, job: &mut Job) {
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
        let missing: Vec<StopBody> = self
            .index
            .all()
            .into_iter()
            .filter(|r| r.body.firebase.is_none() && r.body.upload.is_some())
            .filter(|r| !self.entries().contains_key(&r.body.sid))
            .map(|r| r.body.clone())
            .collect();
        for body in missing {
            let queued = match self.job_for(&body, &now_iso()) {
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
    async fn housekeeping(&self) {
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
                .as_deref()
                .and_then(|d| {
                    OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
                })
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

fn view_of(e: &Entry) -> JobView {
    let job = &e.job;
    let state = if job.done_at.is_some() {
        "done"
    } else if e.running {
        "uploading"
    } else if job.refused {
        "refused"
    } else {
        "pending"
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
