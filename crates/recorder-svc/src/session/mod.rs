//! Recording sessions: one supervisor task per session, a registry that keeps start idempotent
//! per channel and enforces the session cap, and the ways in (start, stop, page connections,
//! lost tabs, shutdown).

mod continued;
mod handle;
mod handover;
pub mod page_protocol;
mod supervisor;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use memharbor_shared::channel::{CHANNEL_RULE, RecordingChannel};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::record::{SessionStatus, StartAnswer, StopAnswer, StopReason};
pub use continued::Continuation;
pub use handle::{SessionCmd, SessionHandle};

use crate::browser::{BrowserPool, TabLost};
use crate::cluster::{Cluster, SessionRoute};
use crate::continuity::Continuity;
use crate::error::RecorderError;
use crate::gateway_client::GatewayClient;
use crate::storage::Store;
use crate::webhooks::Events;

/// What sessions need to know, fixed at start-up.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub recordings_dir: PathBuf,
    pub journal_dir: PathBuf,
    /// Base URL of the loopback page server, e.g. `http://127.0.0.1:41234`.
    pub page_base: String,
    pub max_sessions: usize,
    pub join_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_duration: Duration,
    /// Agora channel mode (`live` or `rtc`) and, in live mode, the bot's role (`audience`).
    pub channel_mode: crate::settings::ChannelMode,
    pub client_role: crate::settings::ClientRole,
    /// How long the page waits for late audio frames (`RECORDER_AUDIO_CUSHION_MS`).
    pub audio_cushion_ms: u32,
    /// Starts are refused while the recordings' filesystem has less free (`RECORDER_MIN_FREE_MB`).
    pub min_free_bytes: u64,
}

/// Shared by the manager and every supervisor.
#[derive(Debug)]
pub struct SessionContext {
    pub settings: SessionSettings,
    pub pool: BrowserPool,
    /// The recordings: their index, and where their audio goes.
    pub store: Store,
    pub gateway: GatewayClient,
    /// The long-lived runtime supervisors run on (not an HTTP worker's).
    pub runtime: tokio::runtime::Handle,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Cluster mode: channels are claimed in the directory before a bot joins.
    pub cluster: Option<Arc<Cluster>>,
    /// Webhook events (nowhere when none are configured).
    pub events: Events,
    /// Cluster mode: segments, their assembly, and the other recorders.
    pub continuity: Option<Arc<Continuity>>,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    by_sid: HashMap<Uuid, Arc<SessionHandle>>,
    by_channel: HashMap<String, Uuid>,
    closed: bool,
    /// Takes no new sessions (`POST /internal/drain`, SIGTERM); the running ones go on.
    draining: bool,
}

impl Registry {
    /// Whether one more session may start here: not draining, a place free, disk enough.
    fn room_for_one(&self, max_sessions: usize, low_on_disk: bool) -> Result<(), RecorderError> {
        if self.draining {
            return Err(RecorderError::Draining);
        }
        if self.by_sid.len() >= max_sessions {
            return Err(RecorderError::AtCapacity);
        }
        if low_on_disk {
            return Err(RecorderError::DiskFull);
        }
        Ok(())
    }
}

impl SessionContext {
    pub fn new(
        settings: SessionSettings,
        pool: BrowserPool,
        store: Store,
        gateway: GatewayClient,
        runtime: tokio::runtime::Handle,
        metrics: Arc<crate::metrics::Metrics>,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            settings,
            pool,
            store,
            gateway,
            runtime,
            metrics,
            cluster,
            events: Events::default(),
            continuity: None,
            registry: Mutex::default(),
        }
    }

    /// Cluster mode: where segments are kept and assembled.
    pub fn with_continuity(mut self, continuity: Arc<Continuity>) -> Self {
        self.continuity = Some(continuity);
        self
    }

    /// Where the sessions' webhook events go.
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = events;
        self
    }

    /// Frees the session's channel claim in the directory (cluster mode), once.
    fn release_claim(&self, handle: &SessionHandle) {
        if let Some(cluster) = &self.cluster
            && let Some(fencing) = handle.fencing()
            && handle.take_claim()
        {
            cluster.release(
                handle.channel.as_str().to_owned(),
                handle.sid.to_string(),
                fencing,
            );
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel is free for a new session from the moment this one begins to stop; the
    /// session stays reachable by sid (and by channel, for stops) until it has finished.
    pub(crate) fn release_channel(&self, sid: Uuid) {
        let released = {
            let mut reg = self.registry();
            let handle = reg.by_sid.get(&sid).cloned();
            if let Some(handle) = &handle
                && reg.by_channel.get(handle.channel.as_str()) == Some(&sid)
            {
                reg.by_channel.remove(handle.channel.as_str());
            }
            handle
        };
        if let Some(handle) = released {
            self.release_claim(&handle);
        }
    }

    pub(crate) fn unregister(&self, sid: Uuid) {
        let removed = {
            let mut reg = self.registry();
            let handle = reg.by_sid.remove(&sid);
            if let Some(handle) = &handle
                && reg.by_channel.get(handle.channel.as_str()) == Some(&sid)
            {
                reg.by_channel.remove(handle.channel.as_str());
            }
            handle
        };
        if let Some(handle) = removed {
            self.release_claim(&handle);
        }
    }
}

pub use memharbor_shared::internal_api::StartRequest;

/// Which session a stop is for.
#[derive(Debug, Clone)]
pub enum StopTarget {
    Sid(Uuid),
    Channel(String),
}

/// How long after its end a session can still be stopped by channel (answered with its body).
pub const STOPPED_BY_CHANNEL_WINDOW: Duration = Duration::from_secs(3600);

/// The sessions of this recorder.
#[derive(Debug, Clone)]
pub struct Sessions {
    ctx: Arc<SessionContext>,
}

impl Sessions {
    pub fn new(ctx: SessionContext) -> Self {
        Self { ctx: Arc::new(ctx) }
    }

    pub fn context(&self) -> &Arc<SessionContext> {
        &self.ctx
    }

    /// Starts recording `req.channel`, or answers the session already recording it. In cluster
    /// mode the channel is claimed before the session takes a place, so a start that another
    /// recorder wins never holds one of this recorder's places (a burst of starts for the same
    /// channels through several gateways cannot fill recorders with sessions bound to fail).
    ///
    /// It runs as a task of its own: a caller that goes away mid-start (its connection dropped)
    /// cannot leave a claim taken for a session that never registers.
    pub async fn start(&self, req: StartRequest) -> Result<StartAnswer, RecorderError> {
        let sessions = self.clone();
        self.ctx
            .runtime
            .spawn(async move { sessions.start_here(req).await })
            .await
            .map_err(|e| RecorderError::Internal(format!("the start task failed: {e}")))?
    }

    async fn start_here(&self, req: StartRequest) -> Result<StartAnswer, RecorderError> {
        let channel = RecordingChannel::parse(&req.channel).ok_or_else(|| {
            RecorderError::bad_request("invalid_channel", Some("channel"), CHANNEL_RULE)
        })?;
        let settings = &self.ctx.settings;
        let low_on_disk = crate::storage::disk::free_bytes(&settings.recordings_dir)
            .is_some_and(|free| free < settings.min_free_bytes);
        let sid = Uuid::new_v4();
        let mut claimed = None;
        if let Some(cluster) = &self.ctx.cluster {
            if let Some(existing) = self.may_take(&channel, low_on_disk)? {
                return self.answer_existing(existing).await;
            }
            match cluster.claim(channel.as_str(), &sid.to_string()).await {
                Ok(fencing) => claimed = Some(fencing),
                // A concurrent start on this very recorder claimed it a moment ago: answer its
                // session once registered.
                Err(RecorderError::ClaimedElsewhere {
                    sid: other,
                    recorder,
                }) if recorder == cluster.id() => {
                    if let Some(existing) = self.registered_soon(&channel, &other).await {
                        return self.answer_existing(existing).await;
                    }
                    return Err(RecorderError::ClaimedElsewhere {
                        sid: other,
                        recorder,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let registered = self.register(sid, &channel, &req, low_on_disk, claimed, None);
        let (handle, existing) = match registered {
            Ok(done) => done,
            Err(e) => {
                // The place went to another start while the claim was taken: give the channel back.
                if let (Some(cluster), Some(fencing)) = (&self.ctx.cluster, claimed) {
                    cluster
                        .release_now(channel.as_str().to_owned(), sid.to_string(), fencing)
                        .await;
                }
                return Err(e);
            }
        };
        if existing && let (Some(cluster), Some(fencing)) = (&self.ctx.cluster, claimed) {
            cluster
                .release_now(channel.as_str().to_owned(), sid.to_string(), fencing)
                .await;
        }
        let mut view = handle.started().await?;
        view.existing = existing;
        Ok(view)
    }

    async fn answer_existing(
        &self,
        handle: Arc<SessionHandle>,
    ) -> Result<StartAnswer, RecorderError> {
        let mut view = handle.started().await?;
        view.existing = true;
        Ok(view)
    }

    /// Whether a new session could take a place now (without taking it), or the channel's
    /// session if this recorder already records it.
    fn may_take(
        &self,
        channel: &RecordingChannel,
        low_on_disk: bool,
    ) -> Result<Option<Arc<SessionHandle>>, RecorderError> {
        let reg = self.ctx.registry();
        if reg.closed {
            return Err(RecorderError::ShuttingDown);
        }
        if let Some(sid) = reg.by_channel.get(channel.as_str()) {
            return Ok(Some(Arc::clone(&reg.by_sid[sid])));
        }
        reg.room_for_one(self.ctx.settings.max_sessions, low_on_disk)?;
        Ok(None)
    }

    /// The session `sid` of `channel`, once a concurrent start has registered it (up to 2 s).
    async fn registered_soon(
        &self,
        channel: &RecordingChannel,
        sid: &str,
    ) -> Option<Arc<SessionHandle>> {
        for _ in 0..100 {
            {
                let reg = self.ctx.registry();
                if let Some(found) = reg.by_channel.get(channel.as_str())
                    && found.to_string() == sid
                {
                    return Some(Arc::clone(&reg.by_sid[found]));
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        None
    }

    /// Takes a place for a new session of `channel` (or finds the one recording it) and starts
    /// its supervisor.
    fn register(
        &self,
        sid: Uuid,
        channel: &RecordingChannel,
        req: &StartRequest,
        low_on_disk: bool,
        claimed: Option<u64>,
        continuation: Option<Continuation>,
    ) -> Result<(Arc<SessionHandle>, bool), RecorderError> {
        let mut reg = self.ctx.registry();
        if reg.closed {
            return Err(RecorderError::ShuttingDown);
        }
        if let Some(existing) = reg.by_channel.get(channel.as_str()) {
            return Ok((Arc::clone(&reg.by_sid[existing]), true));
        }
        reg.room_for_one(self.ctx.settings.max_sessions, low_on_disk)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Arc::new(SessionHandle::new(
            sid,
            channel.clone(),
            req.speakers,
            req.uid,
            tx,
            self.ctx.cluster.as_ref().map(|c| c.id().to_owned()),
        ));
        if let Some(fencing) = claimed {
            handle.set_fencing(fencing);
        }
        reg.by_channel.insert(channel.as_str().to_owned(), sid);
        reg.by_sid.insert(sid, Arc::clone(&handle));
        let supervisor = supervisor::Supervisor::new(
            Arc::clone(&self.ctx),
            Arc::clone(&handle),
            rx,
            req.clone(),
            continuation,
        );
        self.ctx.runtime.spawn(supervisor.run());
        Ok((handle, false))
    }

    /// Continues session `route.sid` here under claim number `fencing` (failover, hand-over):
    /// same sid, same file name, a new segment. Answers once its audio flows.
    pub async fn resume(
        &self,
        route: SessionRoute,
        fencing: u64,
        kind: &'static str,
    ) -> Result<StartAnswer, RecorderError> {
        let channel = RecordingChannel::parse(&route.channel);
        let (Some(channel), Some(continuation), Ok(sid)) = (
            channel,
            Continuation::of(&route, kind),
            Uuid::parse_str(&route.sid),
        ) else {
            return Err(RecorderError::Internal(format!(
                "session {} cannot be continued: its route is incomplete",
                route.sid
            )));
        };
        let req = StartRequest {
            channel: route.channel.clone(),
            speakers: continuation.params.speakers,
            app_id: continuation.params.app_id.clone(),
            // Fetched from the gateway before the bot joins.
            token: String::new(),
            uid: continuation.params.uid,
        };
        let registered = {
            let low_on_disk = false;
            self.register(
                sid,
                &channel,
                &req,
                low_on_disk,
                Some(fencing),
                Some(continuation),
            )
        };
        match registered {
            Ok((handle, false)) => handle.started().await,
            Ok((_, true)) | Err(_) => {
                tracing::error!(%sid, "cannot continue the session here; its claim is given back");
                if let Some(cluster) = &self.ctx.cluster {
                    cluster
                        .release_now(route.channel.clone(), route.sid.clone(), fencing)
                        .await;
                }
                Err(RecorderError::AtCapacity)
            }
        }
    }

    /// Stops a session, or answers the final body of one that already ended. With `for_user`,
    /// only a session of that user's channels: any other is unknown (404), and is not stopped.
    pub async fn stop(
        &self,
        target: StopTarget,
        for_user: Option<&str>,
    ) -> Result<StopAnswer, RecorderError> {
        let active = {
            let reg = self.ctx.registry();
            match &target {
                StopTarget::Sid(sid) => reg.by_sid.get(sid).cloned(),
                // The channel's recording session, else the newest of its sessions still stopping.
                StopTarget::Channel(channel) => reg
                    .by_channel
                    .get(channel)
                    .and_then(|sid| reg.by_sid.get(sid))
                    .or_else(|| {
                        reg.by_sid
                            .values()
                            .filter(|h| h.channel.as_str() == channel)
                            .max_by_key(|h| h.created)
                    })
                    .cloned(),
            }
        };
        let active = active.filter(|h| for_user.is_none_or(|u| h.channel.has_user(u)));
        if let Some(handle) = active {
            // A session still starting is stopped as soon as it records (or answers 404 if it fails).
            let (reply, answer) = oneshot::channel();
            if handle.send(SessionCmd::Stop {
                reason: StopReason::Requested,
                reply: Some(reply),
            }) && let Ok(result) = answer.await
            {
                return result;
            }
        }
        let stored = match &target {
            StopTarget::Sid(sid) => self.ctx.store.index.get(*sid),
            StopTarget::Channel(channel) => self.ctx.store.index.recent_for_channel(
                channel,
                OffsetDateTime::now_utc() - STOPPED_BY_CHANNEL_WINDOW,
            ),
        };
        stored
            .filter(|s| for_user.is_none_or(|u| s.body.user1 == u || s.body.user2 == u))
            .map(|s| self.ctx.store.current(s.body.clone()))
            .ok_or(RecorderError::SessionNotFound)
    }

    pub fn get(&self, sid: Uuid) -> Option<Arc<SessionHandle>> {
        self.ctx.registry().by_sid.get(&sid).cloned()
    }

    /// Every session, recording or not yet (for `/status`).
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        let mut all: Vec<_> = self.ctx.registry().by_sid.values().cloned().collect();
        all.sort_by_key(|h| h.sid);
        all
    }

    /// Status entries of the sessions that are recording, or stopping.
    pub fn recording(&self) -> Vec<SessionStatus> {
        let mut entries: Vec<_> = self.all().iter().filter_map(|h| h.status()).collect();
        entries.sort_by_key(|e| e.started_at);
        entries
    }

    pub fn count(&self) -> usize {
        self.ctx.registry().by_sid.len()
    }

    pub fn is_accepting(&self) -> bool {
        !self.ctx.registry().closed
    }

    pub fn is_draining(&self) -> bool {
        self.ctx.registry().draining
    }

    /// Stops (or resumes) taking new sessions; running ones go on. In cluster mode the
    /// directory hears it at once, so placement skips this recorder.
    pub fn set_draining(&self, draining: bool) {
        self.ctx.registry().draining = draining;
        if let Some(cluster) = &self.ctx.cluster {
            cluster.set_draining(draining);
        }
    }

    /// Routes a lost tab to its session.
    pub fn tab_lost(&self, lost: TabLost) {
        if let Some(handle) = self.get(lost.sid) {
            handle.send(SessionCmd::TabLost {
                reason: lost.reason,
            });
        }
    }

    /// SIGTERM: refuse new sessions; in cluster mode hand every session to another recorder;
    /// stop the rest (`stopReason: shutdown`) and wait for them.
    pub async fn shutdown(&self) {
        self.set_draining(true);
        let _ = self.hand_over_all().await;
        let handles: Vec<_> = {
            let mut reg = self.ctx.registry();
            reg.closed = true;
            reg.by_sid.values().cloned().collect()
        };
        let mut answers = Vec::new();
        for handle in handles {
            let (reply, answer) = oneshot::channel();
            if handle.send(SessionCmd::Stop {
                reason: StopReason::Shutdown,
                reply: Some(reply),
            }) {
                answers.push(answer);
            }
        }
        for answer in answers {
            let _ = answer.await;
        }
    }

    /// SIGINT: end every session at once; their files stay repairable for the next start.
    pub async fn abort(&self) {
        let handles: Vec<_> = {
            let mut reg = self.ctx.registry();
            reg.closed = true;
            reg.by_sid.values().cloned().collect()
        };
        for handle in handles {
            let (done, wait) = oneshot::channel();
            if handle.send(SessionCmd::Abort { done }) {
                let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
            }
        }
    }
}
