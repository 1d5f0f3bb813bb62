//! What the page reports: join results, the tap's start, users coming and going, connection
//! states, token expiry, the end of the last audio.

use std::sync::Arc;

use tokio::time::Instant;

use super::super::handle::SessionCmd;
use super::super::page_protocol::{FromPage, Uid};
use super::{Phase, Supervisor, uid_text};
use crate::audio::recording::AudioMsg;
use crate::error::RecorderError;
use crate::webhooks::EventType;
use serde_json::json;

impl Supervisor {
    pub(super) async fn on_page(&mut self, epoch: u32, msg: FromPage) {
        match msg {
            FromPage::Hello { sample_rate } => {
                if (sample_rate - 48_000.0).abs() > 0.5 {
                    tracing::warn!(sample_rate, "the page does not mix at 48 kHz");
                }
            }
            FromPage::Joined => {
                if self.phase == Phase::Joining {
                    self.set_phase(Phase::AwaitingTap);
                    if !self.starting {
                        // The new page re-announces whoever is in the channel (and they are
                        // heard as joining again).
                        self.remote_users.clear();
                        for uid in std::mem::take(&mut self.publishing) {
                            self.participant(
                                EventType::ParticipantLeft,
                                &uid,
                                Some("reconnecting"),
                            )
                            .await;
                        }
                    }
                }
            }
            FromPage::JoinFailed { code, message } => {
                let detail = format!(
                    "{}{message}",
                    code.map(|c| format!("{c}: ")).unwrap_or_default()
                );
                if self.starting {
                    self.fail_start(RecorderError::JoinFailed(detail)).await;
                } else {
                    self.page_lost(&format!("rejoin failed: {detail}")).await;
                }
            }
            FromPage::TapStarted { frame, wall_ms } => {
                if self.phase != Phase::AwaitingTap {
                    return;
                }
                self.deadline = None;
                self.failures = 0;
                if self.starting {
                    if let Err(e) = self.begin_recording(epoch, frame, wall_ms).await {
                        self.fail_start(e).await;
                        return;
                    }
                    self.starting = false;
                } else if let Some(audio) = &self.audio {
                    audio.send(AudioMsg::Epoch {
                        epoch,
                        frame,
                        wall_ms,
                    });
                    self.handle.record("rejoined", None);
                }
                self.set_phase(Phase::Recording);
                if self.remote_users.is_empty() && self.idle_since.is_none() {
                    self.idle_since = Some(Instant::now());
                }
                for (reason, reply) in std::mem::take(&mut self.early_stops) {
                    self.begin_stop(reason, reply).await;
                }
            }
            FromPage::UserJoined { uid } => {
                self.remote_users.insert(uid.clone());
                self.idle_since = None;
                self.handle.record("user joined", Some(uid_text(&uid)));
            }
            FromPage::UserLeft { uid, reason } => {
                self.remote_users.remove(&uid);
                if self.publishing.remove(&uid) {
                    self.participant(EventType::ParticipantLeft, &uid, reason.as_deref())
                        .await;
                }
                if self.remote_users.is_empty() {
                    self.idle_since = Some(Instant::now());
                }
                self.publish_participants();
                self.handle.record(
                    "user left",
                    Some(format!("{} {}", uid_text(&uid), reason.unwrap_or_default())),
                );
            }
            FromPage::UserPublished { uid, media } => {
                if media == "audio" {
                    self.remote_users.insert(uid.clone());
                    self.idle_since = None;
                    if self.publishing.insert(uid.clone()) {
                        self.participant(EventType::ParticipantJoined, &uid, None)
                            .await;
                    }
                    self.publish_participants();
                }
            }
            FromPage::UserUnpublished { uid, media } => {
                if media == "audio" {
                    if self.publishing.remove(&uid) {
                        self.participant(EventType::ParticipantLeft, &uid, Some("unpublished"))
                            .await;
                    }
                    self.publish_participants();
                }
            }
            FromPage::Subscribed { uid } => {
                let uid = uid_text(&uid);
                self.handle.update(|live| {
                    live.subscribed.insert(uid.clone());
                });
                self.handle.record("subscribed", Some(uid));
            }
            FromPage::SubscribeFailed { uid, message } => {
                self.handle.record(
                    "subscribe failed",
                    Some(format!("{}: {message}", uid_text(&uid))),
                );
            }
            FromPage::ConnectionState {
                state,
                prev,
                reason,
            } => {
                self.handle.record(
                    "connection state",
                    Some(format!(
                        "{} → {state} {}",
                        prev.unwrap_or_default(),
                        reason.clone().unwrap_or_default()
                    )),
                );
                if state == "DISCONNECTED" && self.phase == Phase::Recording {
                    self.page_lost(&format!(
                        "Agora disconnected ({})",
                        reason.unwrap_or_default()
                    ))
                    .await;
                }
            }
            FromPage::TokenWillExpire | FromPage::TokenDidExpire => {
                self.handle.record("token expiring", None);
                let gateway = self.ctx.gateway.clone();
                let handle = Arc::clone(&self.handle);
                let channel = self.handle.channel.as_str().to_owned();
                self.ctx.runtime.spawn(async move {
                    let result = gateway.bot_token(&channel).await;
                    handle.send(SessionCmd::TokenFetched(result));
                });
            }
            FromPage::TokenRenewed => self.handle.record("token renewed", None),
            FromPage::TokenRenewFailed { message } => {
                self.handle.record("token renewal failed", Some(message))
            }
            FromPage::Exception { code, message } => self.handle.record(
                "agora exception",
                Some(format!(
                    "{} {}",
                    code.map(|c| c.to_string()).unwrap_or_default(),
                    message.unwrap_or_default()
                )),
            ),
            FromPage::Stopped => {
                if self.phase == Phase::Stopping {
                    self.finalize().await;
                }
            }
            FromPage::Left => {}
            FromPage::Levels { levels } => self.handle.update(|live| live.speaker_levels = levels),
            FromPage::Log { level, message } => {
                tracing::debug!(sid = %self.handle.sid, level, message, "page log");
            }
            FromPage::LateAudio { uid, frames } => {
                tracing::warn!(sid = %self.handle.sid, %uid, frames, "a track's audio came later than its cushion");
                self.ctx.metrics.audio.late_frames.inc_by(frames);
                if let Some(audio) = &self.audio {
                    audio
                        .stats()
                        .late_frames
                        .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// `recording.participant_joined` / `_left`: a remote user began or stopped sending audio
    /// (the `participants` of the session's status).
    /// Before the recording has started, participants are announced right after
    /// `recording.started` instead (so a receiver hears the session's start first).
    pub(super) async fn participant(&self, kind: EventType, uid: &Uid, reason: Option<&str>) {
        if self.filename.is_none() {
            return;
        }
        let mut data = json!({
            "channel": self.handle.channel.as_str(),
            "uid": uid,
            "at": crate::record::iso_ms(time::OffsetDateTime::now_utc()),
        });
        if let Some(reason) = reason {
            data["reason"] = json!(reason);
        }
        self.ctx.events.emit(self.handle.sid, kind, data).await;
    }

    pub(super) fn publish_participants(&self) {
        let participants = self.publishing.clone();
        self.handle.update(|live| live.participants = participants);
    }
}
