//! Cluster mode: this recorder as one member of many, through the Firestore directory
//! (`memharbor_directory`). It beats (`heartbeat`), claims each channel before its bot joins,
//! releases it when the session stops, and notices when it lost a claim while cut off.
//! Whatever happens to the directory, recording goes on: only new starts depend on it.

mod heartbeat;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use memharbor_directory::{Claim, Directory, Members};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::RecorderError;
use crate::metrics::ClusterCounters;
pub use crate::settings::ClusterSettings;
pub use heartbeat::{HeldSessions, LeaseLost};
pub use memharbor_directory::{RecordingParams, Retired, SessionRoute, Takeover};

/// This recorder in the cluster.
#[derive(Debug)]
pub struct Cluster {
    settings: ClusterSettings,
    /// New at every start.
    incarnation: String,
    directory: Directory,
    capacity: u32,
    draining: AtomicBool,
    /// Wakes the heartbeat early (draining changed).
    beat_now: Notify,
    state: Mutex<LinkState>,
    counters: ClusterCounters,
}

/// What the last heartbeats found.
#[derive(Debug, Default)]
struct LinkState {
    /// When the last successful beat was sent: our claims stand until this + the lease.
    renewed: Option<Instant>,
    last_error: Option<String>,
    members: Members,
    /// Earlier incarnations' claims are freed once, after the first beat that follows the
    /// decision on their journals.
    released_earlier: bool,
    journals_decided: bool,
    /// Stale members' sessions (sid, fencing) found released or continued: not tried again.
    settled: std::collections::HashSet<(String, u64)>,
}

/// How many times a release is retried in the background (backoff up to 30 s: about 2 hours).
const RELEASE_ATTEMPTS: u32 = 250;

impl Cluster {
    pub fn new(
        settings: ClusterSettings,
        firestore: memharbor_google::firestore::Firestore,
        capacity: usize,
        counters: ClusterCounters,
    ) -> Self {
        // A beat that takes longer than a third of the lease is as good as failed.
        let timeout = (settings.lease / 3).max(Duration::from_secs(1));
        Self {
            directory: Directory::new(firestore.with_timeout(timeout), settings.lease),
            incarnation: uuid::Uuid::new_v4().to_string(),
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            draining: AtomicBool::new(false),
            beat_now: Notify::new(),
            state: Mutex::default(),
            counters,
            settings,
        }
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn counters(&self) -> &ClusterCounters {
        &self.counters
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Our lease holds: the last beat was written less than a lease ago.
    fn lease_held(&self) -> bool {
        self.state()
            .renewed
            .is_some_and(|at| at.elapsed() < self.settings.lease)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Stops (or resumes) taking new sessions; the directory hears it at once.
    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
        self.beat_now.notify_one();
    }

    /// Claims `channel` for session `sid` before its bot joins: its fencing number, or why not.
    pub async fn claim(&self, channel: &str, sid: &str) -> Result<u64, RecorderError> {
        if !self.lease_held() {
            self.counters.claim("unavailable");
            return Err(RecorderError::DirectoryUnavailable(
                "this recorder's own heartbeat is not current".into(),
            ));
        }
        match self
            .directory
            .claim(channel, sid, &self.settings.id, &self.incarnation)
            .await
        {
            Ok(Claim::Granted { fencing }) => {
                self.counters.claim("granted");
                // Listed under this recorder by the next beat, now rather than in a few seconds.
                self.beat_now.notify_one();
                Ok(fencing)
            }
            Ok(Claim::Existing { sid, recorder }) => {
                self.counters.claim("existing");
                Err(RecorderError::ClaimedElsewhere { sid, recorder })
            }
            Ok(Claim::Orphaned { sid, .. }) => {
                self.counters.claim("orphaned");
                Err(RecorderError::SessionOrphaned { sid })
            }
            Err(e) => {
                self.counters.claim("unavailable");
                self.counters.directory_error("claim");
                Err(RecorderError::DirectoryUnavailable(e.0))
            }
        }
    }

    /// Frees `channel` for the next session, in the background, until the directory takes it.
    pub fn release(self: &Arc<Self>, channel: String, sid: String, fencing: u64) {
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            for attempt in 0..RELEASE_ATTEMPTS {
                match cluster.directory.release(&channel, &sid, fencing).await {
                    Ok(()) => return,
                    Err(e) => {
                        cluster.counters.directory_error("release");
                        if attempt == 0 {
                            tracing::warn!(%sid, error = %e, "cannot release the channel's claim yet; retrying");
                        }
                    }
                }
                let wait = Duration::from_secs(u64::from(attempt + 1).min(30));
                tokio::time::sleep(wait).await;
            }
            tracing::error!(%sid, %channel, "gave up releasing the channel's claim; the next start of this recorder frees it");
        });
    }

    /// Frees `channel` now (a claim taken for a start that then found no place); in the
    /// background if the directory does not take it at once.
    pub async fn release_now(self: &Arc<Self>, channel: String, sid: String, fencing: u64) {
        if self
            .directory
            .release(&channel, &sid, fencing)
            .await
            .is_err()
        {
            self.counters.directory_error("release");
            self.release(channel, sid, fencing);
        }
    }

    /// Records the stem of a session's files, so downloads route to this recorder, and what
    /// another recorder needs to continue the recording.
    pub fn note_recording(self: &Arc<Self>, sid: String, params: RecordingParams) {
        let Some(stem) = memharbor_shared::cluster::stem_of_file(&params.filename) else {
            return;
        };
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            for attempt in 1..=20u64 {
                match cluster.directory.note_recording(&sid, &stem, &params).await {
                    Ok(()) => return,
                    Err(_) => cluster.counters.directory_error("note_files"),
                }
                tokio::time::sleep(Duration::from_secs(attempt.min(15))).await;
            }
        });
    }

    /// Session `sid`'s recording is assembled: recorders holding segments of it may delete them
    /// (in the background, until the directory takes it).
    pub fn note_assembled(self: &Arc<Self>, sid: String) {
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            for attempt in 1..=20u64 {
                match cluster.directory.note_assembled(&sid).await {
                    Ok(()) => return,
                    Err(_) => cluster.counters.directory_error("note_assembled"),
                }
                tokio::time::sleep(Duration::from_secs(attempt.min(15))).await;
            }
        });
    }

    /// Whether session `sid`'s recording was assembled (its segments are no longer needed);
    /// `None` if the directory cannot say now.
    pub async fn is_assembled(&self, sid: &str) -> Option<bool> {
        match self.directory.session(sid).await {
            Ok(route) => Some(route.is_some_and(|r| r.assembled)),
            Err(_) => None,
        }
    }

    /// The internal API of recorder `id`, if it is live (as of the last heartbeat's read).
    pub fn live_url(&self, id: &str) -> Option<String> {
        self.state()
            .members
            .get(id)
            .filter(|m| m.live)
            .map(|m| m.member.url.clone())
    }

    /// Live recorders other than this one that could take a session now, most free first.
    pub fn placeable_peers(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut peers: Vec<_> = state
            .members
            .all
            .iter()
            .filter(|m| m.placeable() && m.member.id != self.settings.id)
            .collect();
        peers.sort_by_key(|m| std::cmp::Reverse(m.free()));
        peers
            .into_iter()
            .map(|m| (m.member.id.clone(), m.member.url.clone()))
            .collect()
    }

    /// Unix ms of the last renewal of this recorder's lease (its claims stood until then).
    pub fn renewed_wall_ms(&self) -> Option<f64> {
        let renewed = self.state().renewed?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((now.saturating_sub(renewed.elapsed())).as_secs_f64() * 1000.0)
    }

    /// Takes session `sid` over (failover or hand-over): the new fencing number and its route.
    pub async fn take_over(
        &self,
        channel: &str,
        sid: &str,
        how: Takeover,
    ) -> Result<Option<(u64, SessionRoute)>, RecorderError> {
        if !self.lease_held() {
            return Err(RecorderError::DirectoryUnavailable(
                "this recorder's own heartbeat is not current".into(),
            ));
        }
        let taken = self
            .directory
            .take_over(channel, sid, &self.settings.id, &self.incarnation, how)
            .await
            .map_err(|e| {
                self.counters.directory_error("take_over");
                RecorderError::DirectoryUnavailable(e.0)
            })?;
        if taken.is_some() {
            self.beat_now.notify_one();
        }
        Ok(taken)
    }

    /// A journal of an earlier incarnation: whether its session is over (`Ours`: the audio is
    /// the whole recording) or another recorder continued it (the audio is a segment).
    pub async fn retire(&self, channel: &str, sid: &str, fencing: u64) -> Result<Retired, String> {
        self.directory
            .retire(channel, sid, fencing)
            .await
            .map_err(|e| {
                self.counters.directory_error("retire");
                e.0
            })
    }

    /// The earlier incarnation's journals are decided: the claims still left are freed.
    pub fn journals_decided(&self) {
        self.state().journals_decided = true;
        self.beat_now.notify_one();
    }

    /// Whether this recorder's lease is current (its first heartbeat went through).
    pub fn is_registered(&self) -> bool {
        self.lease_held()
    }

    /// `/status`'s `cluster` section: this recorder, its link to the directory, the members.
    pub fn status(&self) -> Value {
        let usage = self.directory.usage();
        let state = self.state();
        let members: Vec<Value> = state
            .members
            .all
            .iter()
            .map(|m| {
                json!({
                    "id": m.member.id, "url": m.member.url, "live": m.live,
                    "capacity": m.member.capacity, "inUse": m.member.in_use,
                    "draining": m.member.draining, "version": m.member.version,
                    "heartbeatAgeMs": m.heartbeat_age.map(|a| a.as_millis() as u64),
                    "sessions": m.member.sessions.len(),
                })
            })
            .collect();
        json!({
            "id": self.settings.id,
            "url": self.settings.advertise_url,
            "incarnation": self.incarnation,
            "draining": self.is_draining(),
            "leaseHeld": state.renewed.is_some_and(|at| at.elapsed() < self.settings.lease),
            "directory": {
                "lastRenewalAgoMs": state.renewed.map(|at| at.elapsed().as_millis() as u64),
                "lastError": state.last_error,
                "heartbeatS": self.settings.heartbeat.as_secs(),
                "leaseS": self.settings.lease.as_secs(),
                "documentsRead": usage.reads,
                "documentsWritten": usage.writes,
            },
            "members": members,
        })
    }
}
