//! One session's life: open a tab, join, record, survive crashes, stop, save.
//!
//! A single event loop owns all of the session's state. Slow steps (opening a tab, fetching a
//! token) run as tasks that report back as commands, so a stop is never stuck behind them. Phases:
//! opening → awaiting page → joining → awaiting tap → recording ⇄ reconnecting → stopping.
//! What the page says is handled in `page_events`; the recording's start in `recording`;
//! stopping and saving in `stopping`.

mod page_events;
mod recording;
mod segments;
mod stopping;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::audio::recording::{AudioMsg, RecordingAudio};
use crate::error::RecorderError;

use super::handle::{SessionCmd, SessionHandle};
use super::page_protocol::{FromPage, ToPage, Uid};
use super::{Continuation, SessionContext, StartRequest};
use crate::journal::Journal;
use crate::record::{StopAnswer, StopReason};
use crate::webhooks::EventType;
use serde_json::json;

/// How long the page may take to flush its last audio after `stop`.
const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long leaving the channel may take before the tab is closed anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between rejoin attempts after a crash (the last repeats).
const REJOIN_BACKOFF: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

type StopReply = oneshot::Sender<Result<StopAnswer, RecorderError>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening,
    AwaitingPage,
    Joining,
    AwaitingTap,
    Recording,
    Reconnecting,
    Stopping,
    /// The stop failed; the files are being repaired and the record saved (`stopping`).
    Repairing,
}

struct Stopping {
    reason: StopReason,
    wall_ms: f64,
    waiters: Vec<StopReply>,
    deadline: Instant,
    /// Cluster mode: another recorder continues the session; this audio is a segment of it
    /// (answered on this channel once it is kept).
    as_segment: Option<Option<oneshot::Sender<()>>>,
}

pub(super) struct Supervisor {
    ctx: Arc<SessionContext>,
    handle: Arc<SessionHandle>,
    rx: mpsc::UnboundedReceiver<SessionCmd>,
    req: StartRequest,
    phase: Phase,
    /// True until the session first records; failures then fail the start request.
    starting: bool,
    attempt: u32,
    failures: usize,
    deadline: Option<Instant>,
    retry_at: Option<Instant>,
    page: Option<(u32, mpsc::UnboundedSender<String>)>,
    audio: Option<RecordingAudio>,
    started_at: Option<OffsetDateTime>,
    filename: Option<String>,
    remote_users: BTreeSet<Uid>,
    publishing: BTreeSet<Uid>,
    idle_since: Option<Instant>,
    max_at: Option<Instant>,
    stopping: Option<Stopping>,
    early_stops: Vec<(StopReason, Option<StopReply>)>,
    /// Written when audio starts; what a repair works from.
    journal: Option<Journal>,
    finished: bool,
    /// Cluster mode: this session continues one another recorder began.
    continuation: Option<Continuation>,
    /// Unix ms of this segment's first sample.
    segment_start_ms: Option<f64>,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    pub(super) fn new(
        ctx: Arc<SessionContext>,
        handle: Arc<SessionHandle>,
        rx: mpsc::UnboundedReceiver<SessionCmd>,
        req: StartRequest,
        continuation: Option<Continuation>,
    ) -> Self {
        Self {
            ctx,
            handle,
            rx,
            req,
            phase: Phase::Opening,
            starting: true,
            attempt: 0,
            failures: 0,
            deadline: None,
            retry_at: None,
            page: None,
            audio: None,
            started_at: None,
            filename: None,
            remote_users: BTreeSet::new(),
            publishing: BTreeSet::new(),
            idle_since: None,
            max_at: None,
            stopping: None,
            early_stops: Vec::new(),
            journal: None,
            finished: false,
            continuation,
            segment_start_ms: None,
        }
    }

    pub(super) async fn run(mut self) {
        self.handle.record("starting", None);
        if let Err(e) = self.claim().await {
            self.fail_start(e).await;
            return;
        }
        if let (Some(_), Some(fencing)) = (&self.continuation, self.handle.fencing()) {
            self.ctx.events.continue_numbering(self.handle.sid, fencing);
        }
        if let Some(c) = &self.continuation {
            self.handle.record(
                "continuing",
                Some(format!(
                    "{}: this recorder continues the recording after {}",
                    c.kind,
                    c.earlier
                        .last()
                        .map_or("another recorder", |l| l.recorder.as_str())
                )),
            );
            // The bot joins with a token of its own (the start's has long expired or was not ours).
            match self
                .ctx
                .gateway
                .bot_token(self.handle.channel.as_str())
                .await
            {
                Ok(token) => self.req.token = token,
                Err(e) => {
                    self.fail_start(RecorderError::Internal(format!(
                        "no bot token to continue the session: {e}"
                    )))
                    .await;
                    return;
                }
            }
        }
        self.open_tab();
        while !self.finished {
            let wake = self.next_wake();
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd).await,
                    None => break,
                },
                () = sleep_until(wake) => self.on_timer().await,
            }
        }
    }

    /// The one place the phase changes: the supervisor's own, and the public name `/status`
    /// and the status entry show.
    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        let name = match phase {
            Phase::Recording => "recording",
            Phase::Stopping => "stopping",
            Phase::Repairing => "repairing",
            Phase::Reconnecting => "reconnecting",
            Phase::Opening | Phase::AwaitingPage | Phase::Joining | Phase::AwaitingTap => {
                if self.starting {
                    "starting"
                } else {
                    "reconnecting"
                }
            }
        };
        self.handle.update(|live| live.phase = name);
    }

    fn next_wake(&self) -> Option<Instant> {
        let idle = self
            .idle_since
            .filter(|_| self.phase == Phase::Recording)
            .map(|since| since + self.ctx.settings.idle_timeout);
        [
            self.deadline,
            self.retry_at,
            idle,
            self.max_at,
            self.stopping.as_ref().map(|s| s.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- establishing (first start and every rejoin) -------------------------------------------

    /// Cluster mode: the channel is claimed in the directory before the bot joins (one session
    /// per channel across every recorder).
    async fn claim(&mut self) -> Result<(), RecorderError> {
        let Some(cluster) = &self.ctx.cluster else {
            return Ok(());
        };
        if let Some(fencing) = self.handle.fencing() {
            // Claimed by the start itself, before the session took its place.
            self.handle
                .record("claimed", Some(format!("fencing number {fencing}")));
            return Ok(());
        }
        let fencing = cluster
            .claim(self.handle.channel.as_str(), &self.handle.sid.to_string())
            .await?;
        self.handle.set_fencing(fencing);
        self.handle
            .record("claimed", Some(format!("fencing number {fencing}")));
        Ok(())
    }

    /// The claim this session records under (cluster mode).
    fn lease(&self) -> Option<crate::record::Lease> {
        Some(crate::record::Lease {
            recorder: self.handle.recorder.clone()?,
            fencing: self.handle.fencing()?,
        })
    }

    fn open_tab(&mut self) {
        self.attempt += 1;
        self.set_phase(Phase::Opening);
        self.retry_at = None;
        self.deadline = Some(Instant::now() + self.ctx.settings.join_timeout);
        let attempt = self.attempt;
        let pool = self.ctx.pool.clone();
        let handle = Arc::clone(&self.handle);
        let url = format!("{}/session/{}", self.ctx.settings.page_base, handle.sid);
        let key = handle.page_key().to_owned();
        self.ctx.runtime.spawn(async move {
            let result = pool.open_tab(handle.sid, url, key).await;
            handle.send(SessionCmd::TabOpened { attempt, result });
        });
    }

    /// The current page is gone (crash, closed socket, lost connection): rejoin, or give up.
    async fn page_lost(&mut self, reason: &str) {
        self.page = None;
        self.handle.record("page lost", Some(reason.to_owned()));
        if self.phase == Phase::Stopping {
            self.finalize().await;
            return;
        }
        if self.starting {
            self.fail_start(RecorderError::Browser(format!(
                "the recording tab was lost while joining ({reason})"
            )))
            .await;
            return;
        }
        // Phase first: whoever sees the rejoin counted also sees the session reconnecting (never
        // "recording" with a tab that is gone).
        self.set_phase(Phase::Reconnecting);
        self.handle.update(|live| live.rejoins += 1);
        self.ctx.pool.close_tab(self.handle.sid).await;
        self.deadline = None;
        let wait = REJOIN_BACKOFF[self.failures.min(REJOIN_BACKOFF.len() - 1)];
        self.failures += 1;
        self.retry_at = Some(Instant::now() + wait);
    }

    async fn fail_start(&mut self, error: RecorderError) {
        self.handle.record("start failed", Some(error.to_string()));
        // A start another session won (or the directory refused) is no recording's failure.
        if !matches!(
            error,
            RecorderError::ClaimedElsewhere { .. }
                | RecorderError::SessionOrphaned { .. }
                | RecorderError::DirectoryUnavailable(_)
        ) {
            self.ctx
                .events
                .emit(
                    self.handle.sid,
                    EventType::Failed,
                    json!({
                        "stage": "start",
                        "channel": self.handle.channel.as_str(),
                        "code": error.code(),
                        "error": error.to_string(),
                        "retried": false,
                    }),
                )
                .await;
        }
        self.ctx.metrics.session_started(false);
        self.ctx.pool.close_tab(self.handle.sid).await;
        self.ctx.unregister(self.handle.sid);
        let _ = self.handle.started.send(Some(Err(error)));
        for (_, reply) in self.early_stops.drain(..) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(RecorderError::SessionNotFound));
            }
        }
        self.finished = true;
    }

    fn send_page(&self, msg: &ToPage) {
        if let (Some((_, tx)), Ok(text)) = (&self.page, serde_json::to_string(msg)) {
            let _ = tx.send(text);
        }
    }

    fn join_message(&self) -> ToPage {
        ToPage::Join {
            app_id: self.req.app_id.clone(),
            channel: self.handle.channel.as_str().to_owned(),
            token: self.req.token.clone(),
            uid: self.req.uid,
            mode: self.ctx.settings.channel_mode,
            role: self.ctx.settings.client_role,
            speakers: self.handle.speakers,
            cushion_ms: self.ctx.settings.audio_cushion_ms,
        }
    }

    // ---- events --------------------------------------------------------------------------------

    async fn on_cmd(&mut self, cmd: SessionCmd) {
        match cmd {
            SessionCmd::Stop { reason, reply } => self.begin_stop(reason, reply).await,
            SessionCmd::TabOpened { attempt, result } => {
                if attempt != self.attempt {
                    return;
                }
                match result {
                    Ok(()) if self.phase == Phase::Opening => self.set_phase(Phase::AwaitingPage),
                    Ok(()) => {}
                    Err(e) if self.starting => {
                        self.fail_start(RecorderError::Browser(e.to_string())).await
                    }
                    Err(e) => self.page_lost(&format!("cannot reopen the tab: {e}")).await,
                }
            }
            SessionCmd::PageConnected { epoch, tx } => {
                if matches!(self.phase, Phase::Opening | Phase::AwaitingPage) && self.page.is_none()
                {
                    self.page = Some((epoch, tx));
                    self.set_phase(Phase::Joining);
                    let join = self.join_message();
                    self.send_page(&join);
                } else {
                    // A page we did not ask for (a stale tab): tell it to leave.
                    let _ = tx.send(serde_json::to_string(&ToPage::Leave).unwrap_or_default());
                }
            }
            SessionCmd::PageClosed { epoch } => {
                if self.page.as_ref().is_some_and(|(e, _)| *e == epoch) {
                    self.page_lost("the page's connection closed").await;
                }
            }
            SessionCmd::TabLost { reason } => {
                if !matches!(self.phase, Phase::Reconnecting) {
                    self.page_lost(reason).await;
                }
            }
            SessionCmd::PageBinary { epoch, bytes } => {
                if self.page.as_ref().is_some_and(|(e, _)| *e == epoch)
                    && let Some(audio) = &self.audio
                {
                    audio.send(AudioMsg::Chunk { epoch, bytes });
                }
            }
            SessionCmd::PageText { epoch, text } => {
                if self.page.as_ref().is_some_and(|(e, _)| *e == epoch) {
                    match serde_json::from_str::<FromPage>(&text) {
                        Ok(msg) => self.on_page(epoch, msg).await,
                        Err(e) => {
                            tracing::warn!(sid = %self.handle.sid, error = %e, "unreadable page message")
                        }
                    }
                }
            }
            SessionCmd::TokenFetched(Ok(token)) => {
                self.req.token = token.clone();
                self.send_page(&ToPage::RenewToken { token });
            }
            SessionCmd::TokenFetched(Err(e)) => self.handle.record("token renewal failed", Some(e)),
            SessionCmd::StallCapture { ms } => self.send_page(&ToPage::StallCapture { ms }),
            SessionCmd::AudioFailed { error } => {
                self.handle.record("audio write failed", Some(error));
                if self.audio.is_some() {
                    self.begin_stop(StopReason::Error, None).await;
                }
            }
            SessionCmd::LeaseLost {
                current_fencing,
                until_ms,
            } => {
                self.handle.record(
                    "lease lost",
                    Some(format!(
                        "another session holds the channel now (fencing number {current_fencing}); this segment ends at the last renewal of its lease, its audio is kept"
                    )),
                );
                self.end_segment_at(until_ms.unwrap_or_else(now_ms), None)
                    .await;
            }
            SessionCmd::HandedOver { at_ms, to, reply } => {
                self.handle
                    .record("handed over", Some(format!("{to} records from here")));
                self.end_segment_at(at_ms, Some(reply)).await;
            }
            SessionCmd::Abort { done } => {
                if let Some(audio) = self.audio.take() {
                    let _ = tokio::task::spawn_blocking(move || audio.abort()).await;
                }
                self.ctx.pool.close_tab(self.handle.sid).await;
                self.finished = true;
                let _ = done.send(());
            }
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.stopping.as_ref().is_some_and(|s| now >= s.deadline) {
            self.handle.record(
                "stop",
                Some("the page did not confirm its last audio in time".into()),
            );
            self.finalize().await;
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            if self.starting {
                let error = match self.phase {
                    Phase::Opening | Phase::AwaitingPage => {
                        RecorderError::Browser("the recorder page did not load in time".into())
                    }
                    _ => RecorderError::JoinTimeout,
                };
                self.fail_start(error).await;
            } else {
                self.page_lost("rejoin timed out").await;
            }
            return;
        }
        if self.retry_at.is_some_and(|r| now >= r) {
            self.handle.record("rejoining", None);
            self.open_tab();
            return;
        }
        if self.max_at.is_some_and(|m| now >= m) {
            self.max_at = None;
            self.begin_stop(StopReason::MaxDuration, None).await;
            return;
        }
        if self.phase == Phase::Recording
            && self
                .idle_since
                .is_some_and(|since| now >= since + self.ctx.settings.idle_timeout)
        {
            self.idle_since = None;
            self.begin_stop(StopReason::Idle, None).await;
        }
    }
}

fn uid_text(uid: &Uid) -> String {
    match uid {
        Uid::Num(n) => n.to_string(),
        Uid::Str(s) => s.clone(),
    }
}
