//! Stopping: the page flushes its last audio, the files are finished, the bot leaves the channel,
//! then the record is delivered and saved and every waiting stop gets the same body.
//!
//! A stop whose finish or save fails (disk full, I/O errors) does not lose the recording: the
//! session stays registered (status `stopping`, phase `repairing`), repairs its files from the
//! journal and retries the save with backoff until it succeeds; stops meanwhile answer 503
//! `recording_repairing`, and the first stop gets the repaired body if the first repair works.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::super::handle::SessionCmd;
use super::super::page_protocol::ToPage;
use super::{LEAVE_TIMEOUT, Phase, STOP_FLUSH_TIMEOUT, StopReply, Stopping, Supervisor, now_ms};
use crate::audio::recording::AudioMsg;
use crate::error::RecorderError;
use crate::journal;
use crate::record::{AssemblyState, Segmented, SpeakerFile, StopAnswer, StopReason};
use crate::storage::Recording;
use crate::webhooks::EventType;

/// Waits between repair attempts (the last repeats).
const REPAIR_BACKOFF: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
    Duration::from_secs(30),
];

impl Supervisor {
    pub(super) async fn begin_stop(&mut self, reason: StopReason, reply: Option<StopReply>) {
        if let Some(stopping) = &mut self.stopping {
            stopping.waiters.extend(reply);
            return;
        }
        if self.starting {
            self.early_stops.push((reason, reply));
            return;
        }
        self.handle.record("stopping", Some(format!("{reason:?}")));
        // From now on a start for this channel begins a new session: this one records nothing more.
        self.ctx.release_channel(self.handle.sid);
        self.stop_recording_at(reason, reply, now_ms(), None).await;
    }

    /// Cluster mode: another recorder records the session now (it took over, or this one handed
    /// it over): this segment ends at `at_ms` and its audio is kept for the assembly. The claim
    /// is the new owner's: it is not released.
    pub(super) async fn end_segment_at(&mut self, at_ms: f64, reply: Option<oneshot::Sender<()>>) {
        if self.stopping.is_some() || self.starting || self.audio.is_none() {
            if let Some(reply) = reply {
                let _ = reply.send(());
            }
            if self.starting {
                self.fail_start(RecorderError::SessionNotFound).await;
            }
            return;
        }
        self.handle.take_claim();
        self.ctx.release_channel(self.handle.sid);
        self.stop_recording_at(StopReason::Error, None, at_ms, Some(reply))
            .await;
    }

    async fn stop_recording_at(
        &mut self,
        reason: StopReason,
        reply: Option<StopReply>,
        wall_ms: f64,
        as_segment: Option<Option<oneshot::Sender<()>>>,
    ) {
        if let Some(audio) = &self.audio {
            audio.send(AudioMsg::StopAt { wall_ms });
        }
        self.stopping = Some(Stopping {
            reason,
            wall_ms,
            waiters: reply.into_iter().collect(),
            deadline: Instant::now() + STOP_FLUSH_TIMEOUT,
            as_segment,
        });
        self.deadline = None;
        self.retry_at = None;
        let had_page = self.page.is_some() && self.phase == Phase::Recording;
        self.set_phase(Phase::Stopping);
        if had_page {
            self.send_page(&ToPage::Stop);
        } else {
            self.finalize().await;
        }
    }

    pub(super) async fn finalize(&mut self) {
        let Some(mut stopping) = self.stopping.take() else {
            return;
        };
        let Some(audio) = self.audio.take() else {
            return;
        };
        let finished = audio.finish(stopping.wall_ms).await;
        // The audio is complete: the bot leaves now, not after the (possibly long) upload wait.
        self.leave(&mut stopping.waiters).await;
        if let Some(reply) = stopping.as_segment.take() {
            return self.keep_segment(stopping, finished.ok(), reply).await;
        }
        let (body, error) = match finished {
            Ok(finished) => {
                let mut body = self.stop_body(stopping.reason, &finished);
                let segmented = self.assemble(&mut body, &finished, stopping.wall_ms).await;
                self.announce_stopped(&body).await;
                let pending = body
                    .assembly
                    .as_ref()
                    .is_some_and(|a| a.state == AssemblyState::Pending);
                // A pending assembly is delivered once complete; its record holds what that takes.
                let delivered = pending || self.ctx.store.deliver(&mut body, true).await.is_ok();
                match self.save(&body, delivered, segmented.clone()).await {
                    Ok(()) => {
                        self.after_assembly(segmented, pending).await;
                        return self.conclude(stopping, body);
                    }
                    Err(e) => (
                        Some(body),
                        format!("saving the recording's record failed: {e}"),
                    ),
                }
            }
            Err(e) => (None, format!("finishing the recording failed: {e}")),
        };
        self.repair(stopping, body, error).await;
    }

    /// Saves the record off the async threads; drops the journal once nothing depends on it
    /// (`delivered`: the upload job exists, or the files stay local).
    async fn save(
        &self,
        body: &StopAnswer,
        delivered: bool,
        segmented: Option<Segmented>,
    ) -> Result<(), String> {
        let record = Recording {
            body: body.clone(),
            created_at: OffsetDateTime::now_utc(),
            history: self.handle.with_live(|live| live.history.clone()),
            lease: self.lease(),
            segmented,
        };
        let index = Arc::clone(&self.ctx.store.index);
        let (dir, sid) = (self.ctx.settings.journal_dir.clone(), self.handle.sid);
        tokio::task::spawn_blocking(move || {
            index.save(record)?;
            if delivered {
                journal::remove(&dir, sid);
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// The stop failed: repair in the background until the recording is saved (or the process
    /// ends, which leaves the journal for the next start).
    async fn repair(
        &mut self,
        mut stopping: Stopping,
        mut body: Option<StopAnswer>,
        error: String,
    ) {
        tracing::error!(sid = %self.handle.sid, error, "stop failed; the recording is repaired in the background");
        self.ctx.metrics.repairs.inc();
        self.set_phase(Phase::Repairing);
        self.handle.record("repairing", Some(error.clone()));
        self.ctx
            .events
            .emit(
                self.handle.sid,
                EventType::Failed,
                serde_json::json!({
                    "stage": "stop",
                    "channel": self.handle.channel.as_str(),
                    "error": error,
                    "retried": true,
                }),
            )
            .await;
        let mut failures = 0;
        loop {
            match self.try_repair(&mut body).await {
                Ok(repaired) => {
                    self.handle.record("repaired", None);
                    return self.conclude(stopping, repaired);
                }
                Err(e) => {
                    tracing::warn!(sid = %self.handle.sid, error = e, "repair failed; retrying");
                    for waiter in stopping.waiters.drain(..) {
                        let _ = waiter.send(Err(RecorderError::Repairing));
                    }
                }
            }
            let until = Instant::now() + REPAIR_BACKOFF[failures.min(REPAIR_BACKOFF.len() - 1)];
            failures += 1;
            loop {
                match tokio::time::timeout_at(until, self.rx.recv()).await {
                    Err(_) => break,
                    Ok(None) => {
                        self.finished = true;
                        return;
                    }
                    Ok(Some(SessionCmd::Stop {
                        reply: Some(reply), ..
                    })) => {
                        let _ = reply.send(Err(RecorderError::Repairing));
                    }
                    Ok(Some(SessionCmd::Abort { done })) => {
                        self.finished = true;
                        let _ = done.send(());
                        return;
                    }
                    Ok(Some(_)) => {}
                }
            }
        }
    }

    /// One repair attempt: the files repaired from disk (if they were never finished), delivered
    /// (idempotent), and the record saved.
    async fn try_repair(&self, body: &mut Option<StopAnswer>) -> Result<StopAnswer, String> {
        let mut repaired = match body.take() {
            Some(body) => body,
            None => {
                let journal = self.journal.clone().ok_or("the session has no journal")?;
                let history = self.handle.with_live(|live| live.history.clone());
                crate::recovery::repair(
                    &journal,
                    &self.ctx.settings.recordings_dir,
                    StopReason::Error,
                    history,
                )
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the recording has no audio file")?
                .body
            }
        };
        self.announce_stopped(&repaired).await;
        let delivered = self.ctx.store.deliver(&mut repaired, false).await.is_ok();
        let saved = self.save(&repaired, delivered, None).await;
        *body = Some(repaired.clone());
        saved.map(|()| repaired)
    }

    /// `recording.stopped`, on disk before the upload can report anything and before the stop
    /// is answered (once, however often a repair gets here).
    async fn announce_stopped(&self, body: &StopAnswer) {
        let data = serde_json::to_value(body).unwrap_or_default();
        self.ctx
            .events
            .emit(self.handle.sid, EventType::Stopped, data)
            .await;
    }

    /// The record is saved: every waiting stop gets the body, the session leaves the registry.
    fn conclude(&mut self, stopping: Stopping, body: StopAnswer) {
        self.ctx.unregister(self.handle.sid);
        for waiter in stopping.waiters {
            let _ = waiter.send(Ok(body.clone()));
        }
        self.handle
            .record("stopped", Some(format!("{:?}", body.stop_reason)));
        self.ctx.metrics.session_stopped(body.stop_reason.as_str());
        self.finished = true;
    }

    pub(super) fn stop_body(
        &self,
        reason: StopReason,
        finished: &crate::audio::recording::FinishedAudio,
    ) -> StopAnswer {
        let channel = &self.handle.channel;
        let speakers = self.handle.speakers.then(|| {
            finished
                .speakers
                .iter()
                .map(|(uid, (name, info))| SpeakerFile {
                    uid: *uid,
                    filename: name.clone(),
                    duration: info.duration_ms(),
                    file_size: info.bytes,
                    firebase: None,
                    local: None,
                })
                .collect()
        });
        StopAnswer {
            sid: self.handle.sid,
            channel: channel.as_str().to_owned(),
            group_id: channel.group_id().to_owned(),
            user1: channel.user1().to_owned(),
            user2: channel.user2().to_owned(),
            filename: self.filename.clone().unwrap_or_default(),
            format: "wav".to_owned(),
            duration: finished.mix.duration_ms(),
            file_size: finished.mix.bytes,
            firebase: None,
            local: None,
            status: "stopped".to_owned(),
            stop_reason: reason,
            speakers,
            upload: None,
            uid: self.req.uid,
            started_at: self.started_at.unwrap_or_else(OffsetDateTime::now_utc),
            stopped_at: OffsetDateTime::now_utc(),
            segments: None,
            assembly: None,
        }
    }

    /// Leaves the channel (bounded), then closes the tab. Stops that arrive meanwhile wait with
    /// the others for the body.
    pub(super) async fn leave(&mut self, waiters: &mut Vec<StopReply>) {
        if self.page.is_some() {
            self.send_page(&ToPage::Leave);
            let deadline = Instant::now() + LEAVE_TIMEOUT;
            while let Ok(Some(cmd)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
                match cmd {
                    SessionCmd::PageText { text, .. } if text.contains("\"left\"") => break,
                    SessionCmd::PageClosed { .. } => break,
                    SessionCmd::Stop {
                        reply: Some(reply), ..
                    } => waiters.push(reply),
                    _ => {}
                }
            }
        }
        self.page = None;
        self.ctx.pool.close_tab(self.handle.sid).await;
    }
}
