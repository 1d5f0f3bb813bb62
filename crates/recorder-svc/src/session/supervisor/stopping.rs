//! Stopping: the page flushes its last audio, the files are finished, the record is saved and
//! delivered, every waiting stop gets the same body, then the bot leaves and the tab closes.

use time::OffsetDateTime;
use tokio::time::Instant;

use super::super::handle::SessionCmd;
use super::super::journal;
use super::super::page_protocol::ToPage;
use super::super::view::{SpeakerFile, StopBody, StopReason, iso_ms};
use super::{LEAVE_TIMEOUT, Phase, STOP_FLUSH_TIMEOUT, StopReply, Stopping, Supervisor, now_ms};
use crate::audio::recording::AudioMsg;
use crate::error::RecorderError;
use crate::storage::StoredRecording;

impl Supervisor {
    // ---- stopping ------------------------------------------------------------------------------

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
        self.handle.update(|live| live.phase = "stopping");
        let wall_ms = now_ms();
        if let Some(audio) = &self.audio {
            audio.send(AudioMsg::StopAt { wall_ms });
        }
        self.stopping = Some(Stopping {
            reason,
            wall_ms,
            waiters: reply.into_iter().collect(),
            deadline: Instant::now() + STOP_FLUSH_TIMEOUT,
        });
        self.deadline = None;
        self.retry_at = None;
        let had_page = self.page.is_some() && self.phase == Phase::Recording;
        self.phase = Phase::Stopping;
        if had_page {
            self.send_page(&ToPage::Stop);
        } else {
            self.finalize().await;
        }
    }

    pub(super) async fn finalize(&mut self) {
        let Some(stopping) = self.stopping.take() else {
            return;
        };
        let Some(audio) = self.audio.take() else {
            return;
        };
        let result = audio.finish(stopping.wall_ms).await;
        let outcome = match result {
            Ok(finished) => Ok(self.stop_body(stopping.reason, &finished)),
            Err(e) => Err(RecorderError::Internal(format!(
                "finishing the recording failed: {e}"
            ))),
        };
        let outcome = match outcome {
            Ok(mut body) => {
                self.ctx.destination.deliver(&mut body, true).await;
                let history = self.handle.with_live(|live| live.history.clone());
                let record = StoredRecording {
                    body: body.clone(),
                    created_at: iso_ms(OffsetDateTime::now_utc()),
                    history,
                };
                match self.ctx.index.save(record) {
                    Ok(_) => {
                        journal::remove(&self.ctx.settings.journal_dir, self.handle.sid);
                        Ok(body)
                    }
                    Err(e) => Err(RecorderError::Internal(format!(
                        "saving the recording's record failed: {e}"
                    ))),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            // The journal stays: the next start repairs and lists the files.
            tracing::error!(sid = %self.handle.sid, error = %e, "stop failed; files kept for recovery");
        }
        self.ctx.unregister(self.handle.sid);
        for waiter in stopping.waiters {
            let _ = waiter.send(outcome.clone());
        }
        self.handle
            .record("stopped", Some(format!("{:?}", stopping.reason)));
        self.ctx.metrics.session_stopped(stopping.reason.as_str());
        self.leave().await;
        self.finished = true;
    }

    pub(super) fn stop_body(
        &self,
        reason: StopReason,
        finished: &crate::audio::recording::FinishedAudio,
    ) -> StopBody {
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
        StopBody {
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
            started_at: self.started_at.map(iso_ms).unwrap_or_default(),
            stopped_at: iso_ms(OffsetDateTime::now_utc()),
        }
    }

    /// Leaves the channel (bounded), then closes the tab.
    pub(super) async fn leave(&mut self) {
        if self.page.is_some() {
            self.send_page(&ToPage::Leave);
            let deadline = Instant::now() + LEAVE_TIMEOUT;
            while let Ok(Some(cmd)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
                match cmd {
                    SessionCmd::PageText { text, .. } if text.contains("\"left\"") => break,
                    SessionCmd::PageClosed { .. } => break,
                    SessionCmd::Stop {
                        reply: Some(reply), ..
                    } => {
                        // Late stops get the final body through the index.
                        let body = self.ctx.index.get(self.handle.sid).map(|s| s.body.clone());
                        let _ = reply.send(body.ok_or(RecorderError::SessionNotFound));
                    }
                    _ => {}
                }
            }
        }
        self.page = None;
        self.ctx.pool.close_tab(self.handle.sid).await;
    }
}
