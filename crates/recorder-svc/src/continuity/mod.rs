//! Continuity (cluster mode): a recording outlives the recorder that began it. Another recorder
//! continues a session whose owner died (failover) or is draining (hand-over) under the same sid;
//! each recorder keeps the audio it recorded as a segment (`segments`), and the recorder that
//! stops the session fetches the others' segments (`peers`) and assembles one file per stream
//! (`assembly`). A segment whose holder is away leaves the recording `assembly: pending` until
//! it returns; no segment is deleted before the assembled recording is saved.

mod align;
pub mod assembly;
pub mod peers;
pub mod recover;
pub mod segments;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cluster::Cluster;
use crate::record::{Assembly, AssemblyState, Lease, Segmented, StopAnswer};
use crate::storage::Store;
pub use peers::{HandoverAnswer, HandoverRequest, Peers};
pub use segments::{SegmentMeta, SegmentStore};

/// How often a pending assembly looks for its missing segments.
const PENDING_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Continuity {
    pub store: SegmentStore,
    pub peers: Peers,
    cluster: Arc<Cluster>,
    recordings_dir: PathBuf,
}

impl Continuity {
    pub fn new(cluster: Arc<Cluster>, recordings_dir: PathBuf, internal_key: String) -> Self {
        Self {
            store: SegmentStore::new(&recordings_dir),
            peers: Peers::new(internal_key),
            cluster,
            recordings_dir,
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Every segment of `sid` in `refs`, fetched here if another recorder holds it; the labels
    /// of those that cannot be had now (their holder is away).
    async fn gather(&self, sid: Uuid, refs: &[Lease]) -> (Vec<SegmentMeta>, Vec<String>) {
        // Segments held elsewhere are fetched side by side; the order of `refs` is kept.
        let each = refs.iter().map(|r| async move {
            if let Some(meta) = self.store.get(sid, r.fencing) {
                return Ok(meta);
            }
            let fetched = match self.cluster.live_url(&r.recorder) {
                Some(url) if r.recorder != self.cluster.id() => {
                    self.peers.fetch(&url, sid, r.fencing, &self.store).await
                }
                _ => Err("its recorder is not live".into()),
            };
            fetched.map_err(|e| {
                let label = segments::label(&r.recorder, r.fencing);
                tracing::info!(%sid, segment = label, error = e, "a segment cannot be fetched yet");
                label
            })
        });
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for result in futures_util::future::join_all(each).await {
            match result {
                Ok(meta) => found.push(meta),
                Err(label) => missing.push(label),
            }
        }
        (found, missing)
    }

    /// Assembles the recording `body` describes from its segments, into its files: the body then
    /// says which segments made it, and whether any is still missing (`assembly: pending`).
    pub async fn assemble(
        &self,
        body: &mut StopAnswer,
        segmented: &Segmented,
    ) -> Result<(), String> {
        let (found, missing) = self.gather(body.sid, &segmented.segments).await;
        let (store, out, filename) = (
            self.store.clone(),
            self.recordings_dir.clone(),
            body.filename.clone(),
        );
        let (speakers, origin, stop) = (
            body.speakers.is_some(),
            segmented.origin_ms,
            segmented.stop_ms,
        );
        let assembled = tokio::task::spawn_blocking(move || {
            assembly::write(&store, &found, &out, &filename, speakers, origin, stop)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        body.duration = assembled.duration;
        body.file_size = assembled.file_size;
        if speakers {
            body.speakers = Some(assembled.speakers);
        }
        body.segments = Some(assembled.summaries);
        body.assembly = Some(Assembly {
            state: if missing.is_empty() {
                AssemblyState::Complete
            } else {
                AssemblyState::Pending
            },
            missing,
        });
        Ok(())
    }

    /// The assembled recording is saved: every segment of it is deleted, here and at its holder.
    pub async fn forget(&self, sid: Uuid, refs: &[Lease]) {
        self.cluster.note_assembled(sid.to_string());
        for r in refs {
            self.store.remove(sid, r.fencing);
            if r.recorder != self.cluster.id()
                && let Some(url) = self.cluster.live_url(&r.recorder)
                && let Err(e) = self.peers.forget(&url, sid, r.fencing).await
            {
                tracing::warn!(%sid, error = e, "a segment's holder did not confirm deleting it; it keeps the copy");
            }
        }
    }

    /// Completes a pending assembly in the background: retried until every segment is here,
    /// then delivered (uploaded when Firebase is on) and saved as the whole recording.
    pub fn complete_later(self: &Arc<Self>, store: Store, sid: Uuid) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PENDING_RETRY).await;
                let Some(record) = store.index.get(sid) else {
                    return;
                };
                let Some(segmented) = record.segmented.clone() else {
                    return;
                };
                let mut body = record.body.clone();
                if let Err(e) = this.assemble(&mut body, &segmented).await {
                    tracing::warn!(%sid, error = e, "assembling the recording failed; retrying");
                    continue;
                }
                if body
                    .assembly
                    .as_ref()
                    .is_some_and(|a| a.state == AssemblyState::Pending)
                {
                    continue;
                }
                let _ = store.deliver(&mut body, false).await;
                let saved = store.index.update(sid, |record| record.body = body.clone());
                if matches!(saved, Ok(true)) {
                    tracing::info!(%sid, "the recording's missing segments arrived: assembled and delivered");
                    this.forget(sid, &segmented.segments).await;
                    return;
                }
            }
        });
    }

    /// Deletes the segments held here whose recording was assembled while this recorder was
    /// away (its holder could not be told then).
    pub async fn collect_garbage(&self) {
        for sid in self.store.sessions().into_keys() {
            if self.cluster.is_assembled(&sid.to_string()).await == Some(true) {
                tracing::info!(%sid, "segments of an assembled recording deleted");
                self.store.remove_session(sid);
            }
        }
    }

    /// Segments held here, and the sessions they belong to (`/status`).
    pub fn status(&self) -> serde_json::Value {
        let sessions = self.store.sessions();
        serde_json::json!({
            "segmentsHeld": sessions.values().sum::<usize>(),
            "sessionsWithSegments": sessions.len(),
        })
    }

    /// At start-up: the pending assemblies this recorder owns are taken up again.
    pub fn resume_pending(self: &Arc<Self>, store: &Store) {
        for record in store.index.all() {
            if record
                .body
                .assembly
                .as_ref()
                .is_some_and(|a| a.state == AssemblyState::Pending)
            {
                self.complete_later(store.clone(), record.body.sid);
            }
        }
    }
}
