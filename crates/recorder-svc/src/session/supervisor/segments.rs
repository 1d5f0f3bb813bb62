//! Cluster mode, at the end of a session's part: a segment kept for the recorder that continues
//! the session (lease lost, handed over), or — for a continued session — the recording assembled
//! from every segment before it is saved.

use tokio::sync::oneshot;

use super::{Stopping, Supervisor};
use crate::audio::recording::FinishedAudio;
use crate::continuity::SegmentMeta;
use crate::error::RecorderError;
use crate::journal;
use crate::record::{Assembly, AssemblyState, Lease, Segmented, StopAnswer, StopReason};

impl Supervisor {
    /// This part's description as a segment, ending at `end_ms`.
    fn segment_meta(&self, speakers: Vec<(u32, String)>, end_ms: f64) -> Option<SegmentMeta> {
        let journal = self.journal.as_ref()?;
        Some(SegmentMeta {
            sid: self.handle.sid,
            fencing: self.handle.fencing()?,
            recorder: self.handle.recorder.clone()?,
            start_ms: self.segment_start_ms?,
            end_ms,
            mix: journal.filename.clone(),
            speakers,
        })
    }

    /// Another recorder records the session now: this part's files become a segment (kept until
    /// the assembled recording is saved), and the session leaves this recorder without a record.
    pub(super) async fn keep_segment(
        &mut self,
        stopping: Stopping,
        finished: Option<FinishedAudio>,
        reply: Option<oneshot::Sender<()>>,
    ) {
        let Some(journal) = self.journal.clone() else {
            return self.conclude_segment(stopping, reply);
        };
        let from = if self.continuation.is_some() {
            self.segment_dir().ok()
        } else {
            Some(self.ctx.settings.recordings_dir.clone())
        };
        let speakers = match (finished, &from) {
            (Some(f), _) => speaker_names(&f),
            // The files were not finished: repaired first (headers from the data on disk).
            (None, Some(dir)) => {
                match crate::recovery::repair(&journal, dir, StopReason::Error, Vec::new()).await {
                    Ok(Some(repaired)) => repaired.body.speaker_files(),
                    _ => Vec::new(),
                }
            }
            (None, None) => Vec::new(),
        };
        let meta = self.segment_meta(speakers, stopping.wall_ms);
        let kept = match (&self.ctx.continuity, meta, from) {
            (Some(continuity), Some(meta), Some(from)) => {
                let store = continuity.store.clone();
                tokio::task::spawn_blocking(move || store.adopt(&from, &meta))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r)
                    .map_err(|e| e.to_string())
            }
            _ => Err("no segment can be described".to_owned()),
        };
        match kept {
            Ok(()) => {
                journal::remove(&self.ctx.settings.journal_dir, self.handle.sid);
                self.handle.record("segment kept", None);
            }
            Err(e) => {
                // The journal stays: the next start recovers the files.
                tracing::error!(sid = %self.handle.sid, error = e, "cannot keep this segment; its journal stays for recovery");
                self.handle.record("segment not kept", Some(e));
            }
        }
        self.conclude_segment(stopping, reply);
    }

    fn conclude_segment(&mut self, stopping: Stopping, reply: Option<oneshot::Sender<()>>) {
        self.ctx.unregister(self.handle.sid);
        for waiter in stopping.waiters {
            let _ = waiter.send(Err(RecorderError::SessionNotFound));
        }
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
        self.finished = true;
    }

    /// A continued session: its own segment sealed, then the recording assembled from every
    /// segment into `body`'s files. `None` for a session recorded whole here.
    pub(super) async fn assemble(
        &mut self,
        body: &mut StopAnswer,
        finished: &FinishedAudio,
        stop_ms: f64,
    ) -> Option<Segmented> {
        let continuation = self.continuation.clone()?;
        let continuity = self.ctx.continuity.clone()?;
        let meta = self.segment_meta(speaker_names(finished), stop_ms)?;
        let mut segments = continuation.earlier.clone();
        segments.push(Lease {
            recorder: meta.recorder.clone(),
            fencing: meta.fencing,
        });
        let segmented = Segmented {
            origin_ms: continuation.params.started_ms,
            stop_ms,
            segments,
        };
        let store = continuity.store.clone();
        let sealed = tokio::task::spawn_blocking(move || store.seal(&meta))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        let assembled = match sealed {
            Ok(()) => continuity.assemble(body, &segmented).await,
            Err(e) => Err(e.to_string()),
        };
        match assembled {
            Ok(()) => {
                let summary = body.segments.iter().flatten().map(|s| {
                    format!(
                        "{}#{} gap {} ms, cut {} ms",
                        s.recorder, s.fencing, s.gap_ms, s.cut_ms
                    )
                });
                self.handle
                    .record("assembled", Some(summary.collect::<Vec<_>>().join("; ")));
            }
            Err(e) => {
                tracing::error!(sid = %self.handle.sid, error = e, "assembling the recording failed; retried in the background");
                body.assembly = Some(Assembly {
                    state: AssemblyState::Pending,
                    missing: Vec::new(),
                });
            }
        }
        let complete = body
            .assembly
            .as_ref()
            .is_some_and(|a| a.state == AssemblyState::Complete);
        if complete && let Some(cluster) = &self.ctx.cluster {
            for s in body.segments.iter().flatten().skip(1) {
                cluster
                    .counters()
                    .segment_gaps
                    .observe(s.gap_ms as f64 / 1000.0);
            }
        }
        Some(segmented)
    }

    /// The record is saved: a complete recording's segments are deleted (here and at their
    /// holders); a pending one is completed in the background.
    pub(super) async fn after_assembly(&self, segmented: Option<Segmented>, pending: bool) {
        let (Some(segmented), Some(continuity)) = (segmented, self.ctx.continuity.clone()) else {
            return;
        };
        if pending {
            continuity.complete_later(self.ctx.store.clone(), self.handle.sid);
        } else {
            let sid = self.handle.sid;
            tokio::spawn(async move {
                continuity.forget(sid, &segmented.segments).await;
            });
        }
    }
}

fn speaker_names(finished: &FinishedAudio) -> Vec<(u32, String)> {
    finished
        .speakers
        .iter()
        .map(|(uid, (name, _))| (*uid, name.clone()))
        .collect()
}
