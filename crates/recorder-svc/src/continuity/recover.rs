//! Recovery in cluster mode: a journal left by a killed run whose session held a claim is decided
//! with the directory once this recorder is registered again. If nobody continued the session,
//! its audio is the recording (recovered as in single mode; a continuation assembles it from
//! its segments). If another recorder continued it, the repaired audio is kept as a segment for
//! that recorder's assembly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{Continuity, SegmentMeta};
use crate::cluster::{HeldSessions, Retired, Takeover};
use crate::journal::{self, Journal};
use crate::record::{AssemblyState, Lease, Recording, Segmented, StopReason};
use crate::storage::Store;
use crate::webhooks::Events;

/// Every journal with a claim, decided once the directory answers (retried until it does). A
/// session nobody continued yet is continued here (a recorder restarted after a crash picks its
/// calls up again, as another recorder would have).
pub async fn recover_leased(
    continuity: Arc<Continuity>,
    sessions: Arc<dyn HeldSessions>,
    journal_dir: PathBuf,
    recordings_dir: PathBuf,
    store: Store,
    events: Events,
) {
    let (journal_dir, recordings_dir) = (journal_dir.as_path(), recordings_dir.as_path());
    while !continuity.cluster().is_registered() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut journals: Vec<Journal> = journal::all(journal_dir)
        .into_iter()
        .filter(|j| j.lease.is_some())
        .collect();
    while !journals.is_empty() {
        let mut left = Vec::new();
        for j in journals {
            let Some(lease) = j.lease.clone() else {
                continue;
            };
            match continuity
                .cluster()
                .take_over(&j.channel, &j.sid.to_string(), Takeover::Failover)
                .await
            {
                Ok(Some((fencing, route))) => {
                    tracing::warn!(sid = %j.sid, fencing, "continuing a session this recorder was recording when it stopped");
                    continuity.cluster().counters().takeover("failover");
                    let kept = keep_as_segment(&continuity, &j, &lease, recordings_dir)
                        .await
                        .is_ok();
                    sessions.continue_session(route, fencing);
                    if kept {
                        journal::remove(journal_dir, j.sid);
                    } else {
                        left.push(j);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(sid = %j.sid, error = %e, "cannot decide a crashed session's journal yet; retrying");
                    left.push(j);
                    continue;
                }
            }
            let decided = continuity
                .cluster()
                .retire(&j.channel, &j.sid.to_string(), lease.fencing)
                .await;
            let done = match decided {
                Ok(Retired::Ours) if j.continues.is_none() => {
                    crate::recovery::recover_one(&j, recordings_dir, &store, &events)
                        .await
                        .is_ok()
                }
                Ok(Retired::Ours) => assemble_continuation(&continuity, &j, &lease, &store)
                    .await
                    .is_ok(),
                Ok(Retired::TakenOver { recorder, fencing }) => {
                    tracing::warn!(sid = %j.sid, %recorder, fencing, "this recorder's session was continued elsewhere while it was down: its audio is kept as a segment");
                    keep_as_segment(&continuity, &j, &lease, recordings_dir)
                        .await
                        .is_ok()
                }
                Err(e) => {
                    tracing::warn!(sid = %j.sid, error = e, "cannot decide a crashed session's journal yet; retrying");
                    false
                }
            };
            if done {
                journal::remove(journal_dir, j.sid);
            } else {
                left.push(j);
            }
        }
        journals = left;
        if !journals.is_empty() {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    continuity.cluster().journals_decided();
    continuity.collect_garbage().await;
}

fn unix_ms(t: time::OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e6
}

/// The journal's files, repaired (the recording they make alone), as a segment ending where
/// their audio ends.
async fn repaired_segment(
    j: &Journal,
    lease: &Lease,
    dir: &Path,
) -> Result<Option<(Recording, SegmentMeta)>, String> {
    let Some(record) = crate::recovery::repair(j, dir, StopReason::Error, Vec::new())
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let start_ms = j
        .continues
        .as_ref()
        .map_or_else(|| unix_ms(j.started_at), |c| c.start_ms);
    let samples = crate::audio::splice::samples(&dir.join(&j.filename));
    let meta = SegmentMeta {
        sid: j.sid,
        fencing: lease.fencing,
        recorder: lease.recorder.clone(),
        start_ms,
        end_ms: start_ms + samples as f64 / 16.0,
        mix: j.filename.clone(),
        speakers: record.body.speaker_files(),
    };
    Ok(Some((record, meta)))
}

async fn keep_as_segment(
    continuity: &Continuity,
    j: &Journal,
    lease: &Lease,
    recordings_dir: &Path,
) -> Result<(), String> {
    let dir = if j.continues.is_some() {
        continuity.store.dir(j.sid, lease.fencing)
    } else {
        recordings_dir.to_owned()
    };
    let Some((_, meta)) = repaired_segment(j, lease, &dir).await? else {
        return Ok(());
    };
    let store = continuity.store.clone();
    tokio::task::spawn_blocking(move || store.adopt(&dir, &meta))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// A continuation whose recorder died and that nobody continued further: this recorder owns the
/// recording, and assembles it from the segments (its own ends where its audio ends).
async fn assemble_continuation(
    continuity: &Arc<Continuity>,
    j: &Journal,
    lease: &Lease,
    store: &Store,
) -> Result<(), String> {
    let (Some(c), dir) = (&j.continues, continuity.store.dir(j.sid, lease.fencing)) else {
        return Err("not a continuation".into());
    };
    let Some((mut record, meta)) = repaired_segment(j, lease, &dir).await? else {
        return Ok(());
    };
    let seal = continuity.store.clone();
    let sealed = meta.clone();
    tokio::task::spawn_blocking(move || seal.seal(&sealed))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut segments = c.earlier.clone();
    segments.push(lease.clone());
    let segmented = Segmented {
        origin_ms: c.origin_ms,
        stop_ms: meta.end_ms,
        segments,
    };
    continuity.assemble(&mut record.body, &segmented).await?;
    let pending = record
        .body
        .assembly
        .as_ref()
        .is_some_and(|a| a.state == AssemblyState::Pending);
    if !pending {
        let _ = store.deliver(&mut record.body, false).await;
    }
    record.segmented = Some(segmented.clone());
    store.index.save(record).map_err(|e| e.to_string())?;
    if pending {
        continuity.complete_later(store.clone(), j.sid);
    } else {
        continuity.forget(j.sid, &segmented.segments).await;
    }
    Ok(())
}
