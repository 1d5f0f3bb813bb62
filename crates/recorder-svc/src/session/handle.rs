//! A session as the rest of the service sees it: its identity, a way to send it commands, and a
//! live snapshot the supervisor keeps up to date (for status, `GET /api/recording/{sid}`, metrics).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use memharbor_shared::channel::RecordingChannel;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::audio::recording::AudioStats;
use crate::browser::BrowserError;
use crate::error::RecorderError;

use super::page_protocol::Uid;
use crate::record::{HistoryEvent, SessionStatus, StartAnswer, StopAnswer, StopReason};

/// Commands to a session's supervisor.
#[derive(Debug)]
pub enum SessionCmd {
    Stop {
        reason: StopReason,
        reply: Option<oneshot::Sender<Result<StopAnswer, RecorderError>>>,
    },
    PageConnected {
        epoch: u32,
        tx: mpsc::UnboundedSender<String>,
    },
    PageText {
        epoch: u32,
        text: String,
    },
    PageBinary {
        epoch: u32,
        bytes: Bytes,
    },
    PageClosed {
        epoch: u32,
    },
    TabOpened {
        attempt: u32,
        result: Result<(), BrowserError>,
    },
    TabLost {
        reason: &'static str,
    },
    TokenFetched(Result<String, String>),
    /// Writing the audio failed (disk full, I/O error): the session ends and is repaired.
    AudioFailed {
        error: String,
    },
    /// A drill: the page's capture worker stops for `ms` (as under a load spike).
    StallCapture {
        ms: u32,
    },
    /// SIGINT: end now, leave repairable files.
    Abort {
        done: oneshot::Sender<()>,
    },
    /// Cluster mode: another session holds the channel now (this recorder was cut off from the
    /// directory): end this segment, keep its audio.
    LeaseLost {
        current_fencing: u64,
        /// Unix ms of the last renewal before the gap: the segment ends there.
        until_ms: Option<f64>,
    },
    /// Hand-over: another recorder records this session from now; this segment ends at
    /// `at_ms` (Unix ms) and its audio is kept as a segment of the recording.
    HandedOver {
        at_ms: f64,
        to: String,
        reply: oneshot::Sender<()>,
    },
}

/// The supervisor's published state.
#[derive(Debug, Default)]
pub struct Live {
    pub phase: &'static str,
    pub filename: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    pub participants: BTreeSet<Uid>,
    pub history: Vec<HistoryEvent>,
    pub audio: Option<Arc<AudioStats>>,
    pub rejoins: u32,
    /// Each remote speaker's current level (0–1 RMS), reported by the page.
    pub speaker_levels: std::collections::BTreeMap<String, f32>,
    /// Remote users whose audio the page subscribed to (by uid text).
    pub subscribed: BTreeSet<String>,
}

/// Most history events kept per session.
pub const HISTORY_LIMIT: usize = 500;

#[derive(Debug)]
pub struct SessionHandle {
    pub sid: Uuid,
    pub channel: RecordingChannel,
    pub speakers: bool,
    pub bot_uid: u32,
    /// When the session was created (orders several sessions of one channel).
    pub created: std::time::Instant,
    page_key: String,
    tx: mpsc::UnboundedSender<SessionCmd>,
    next_epoch: AtomicU32,
    pub(super) started: watch::Sender<Option<Result<StartAnswer, RecorderError>>>,
    live: Mutex<Live>,
    /// Cluster mode: this recorder's id, and the claim's fencing number once granted (0: none).
    pub recorder: Option<String>,
    fencing: AtomicU64,
    claim_released: AtomicBool,
}

impl SessionHandle {
    pub fn new(
        sid: Uuid,
        channel: RecordingChannel,
        speakers: bool,
        bot_uid: u32,
        tx: mpsc::UnboundedSender<SessionCmd>,
        recorder: Option<String>,
    ) -> Self {
        Self {
            sid,
            channel,
            speakers,
            bot_uid,
            created: std::time::Instant::now(),
            page_key: Uuid::new_v4().simple().to_string(),
            tx,
            next_epoch: AtomicU32::new(0),
            started: watch::channel(None).0,
            live: Mutex::new(Live {
                phase: "starting",
                ..Live::default()
            }),
            recorder,
            fencing: AtomicU64::new(0),
            claim_released: AtomicBool::new(false),
        }
    }

    /// The channel claim's fencing number (cluster mode), once granted.
    pub fn fencing(&self) -> Option<u64> {
        Some(self.fencing.load(Ordering::Relaxed)).filter(|f| *f > 0)
    }

    pub(super) fn set_fencing(&self, fencing: u64) {
        self.fencing.store(fencing, Ordering::Relaxed);
    }

    /// True the first time: the claim is to be released now (once per session).
    pub(super) fn take_claim(&self) -> bool {
        self.fencing().is_some() && !self.claim_released.swap(true, Ordering::Relaxed)
    }

    /// The secret the session's page presents on its WebSocket.
    pub fn page_key(&self) -> &str {
        &self.page_key
    }

    pub fn send(&self, cmd: SessionCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Numbers each page connection (each tab the session ever had).
    pub fn next_epoch(&self) -> u32 {
        self.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits until the session is recording (or failed to start).
    pub async fn started(&self) -> Result<StartAnswer, RecorderError> {
        let mut rx = self.started.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(result) => result
                .clone()
                .unwrap_or(Err(RecorderError::SessionNotFound)),
            Err(_) => Err(RecorderError::SessionNotFound),
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.live.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn with_live<T>(&self, f: impl FnOnce(&Live) -> T) -> T {
        f(&self.live.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn record(&self, event: &str, detail: Option<String>) {
        tracing::info!(sid = %self.sid, channel = self.channel.as_str(), event, detail = detail.as_deref().unwrap_or(""), "session event");
        self.update(|live| {
            live.history.push(HistoryEvent::now(event, detail));
            if live.history.len() > HISTORY_LIMIT {
                live.history.remove(0);
            }
        });
    }

    /// The status entry; `None` until the session records. `status` is `recording` (also while
    /// reconnecting), or `stopping` from the moment the stop begins until the record is saved.
    pub fn status(&self) -> Option<SessionStatus> {
        self.with_live(|live| {
            let started_at = live.started_at?;
            let samples = live
                .audio
                .as_ref()
                .map_or(0, |a| a.mix_samples.load(Ordering::Relaxed));
            Some(SessionStatus {
                sid: self.sid,
                channel: self.channel.as_str().to_owned(),
                group_id: self.channel.group_id().to_owned(),
                user1: self.channel.user1().to_owned(),
                user2: self.channel.user2().to_owned(),
                uid: self.bot_uid,
                filename: live.filename.clone().unwrap_or_default(),
                status: if matches!(live.phase, "stopping" | "repairing") {
                    "stopping"
                } else {
                    "recording"
                }
                .to_owned(),
                started_at,
                duration_ms: samples / 16,
                participants: live.participants.iter().cloned().collect(),
                speakers: self.speakers,
                recorder: self.recorder.clone(),
            })
        })
    }
}
