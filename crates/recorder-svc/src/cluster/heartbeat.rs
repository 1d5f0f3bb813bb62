//! The heartbeat: every few seconds, this recorder's document in the directory is rewritten
//! (capacity, sessions in use, draining, its sessions). After a beat that follows a gap — the
//! directory was unreachable, or lost its state — every session's claim is checked: restored if
//! the directory forgot it, given up (the session ends its segment, audio kept) if another
//! session holds the channel now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memharbor_directory::{Beat, HeldSession, Member, SessionRoute, Takeover};

use super::Cluster;

/// How soon a failed heartbeat is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// What the heartbeat needs from the sessions (`session::Sessions` implements it).
pub trait HeldSessions: Send + Sync + 'static {
    /// Sessions holding a claim, each with its files' name once recording.
    fn held(&self) -> Vec<(HeldSession, Option<String>)>;
    /// Sessions this recorder runs (starting, recording or stopping).
    fn in_use(&self) -> usize;
    /// The session lost its claim: another session holds its channel now.
    fn lease_lost(&self, lost: LeaseLost);
    /// Continue session `route.sid` here (failover): this recorder holds its claim under `fencing`.
    fn continue_session(&self, route: SessionRoute, fencing: u64);
}

/// A session whose claim is someone else's now.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseLost {
    pub sid: String,
    /// Ours, and the channel's now (0 if the channel is free).
    pub fencing: u64,
    pub current_fencing: u64,
    /// Unix ms of this recorder's last renewal before the gap (its claims stood until then).
    pub until_ms: Option<f64>,
}

impl Cluster {
    /// Beats until the process ends; after a failed beat, tries again every second (a failed
    /// call costs nothing), so the directory's return is noticed within a second, not a beat.
    pub async fn run(self: Arc<Self>, sessions: Arc<dyn HeldSessions>) {
        loop {
            let pause = if self.state().last_error.is_some() {
                self.settings.heartbeat.min(RETRY)
            } else {
                self.settings.heartbeat
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.beat_now.notified() => {}
            }
            self.beat(sessions.as_ref()).await;
        }
    }

    /// One heartbeat, and what follows from it. The first one registers this recorder.
    pub async fn beat(&self, sessions: &dyn HeldSessions) {
        let held = sessions.held();
        let member = Member {
            id: self.settings.id.clone(),
            url: self.settings.advertise_url.clone(),
            incarnation: self.incarnation.clone(),
            capacity: self.capacity,
            in_use: u32::try_from(sessions.in_use()).unwrap_or(u32::MAX),
            draining: self.is_draining(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sessions: held.iter().map(|(s, _)| s.clone()).collect(),
        };
        let (renewing, lapsed) = {
            let state = self.state();
            let lease = self.settings.lease;
            (
                state.renewed.is_some(),
                state.renewed.is_some_and(|at| at.elapsed() >= lease),
            )
        };
        let renewed_before = self.renewed_wall_ms();
        let sent = Instant::now();
        let beat = match self.directory.heartbeat(&member, renewing).await {
            Ok(beat) => beat,
            Err(e) => {
                self.counters.directory_error("heartbeat");
                let mut state = self.state();
                if state.last_error.is_none() {
                    tracing::warn!(error = %e, "cannot renew this recorder's heartbeat; recording goes on, new starts wait for the directory");
                }
                state.last_error = Some(e.0);
                return;
            }
        };
        let released_earlier = {
            let mut state = self.state();
            if state.last_error.take().is_some() {
                tracing::info!("the directory is reachable again");
            }
            state.renewed = Some(sent);
            // Only once the earlier incarnation's journals are decided (`continuity::recover`
            // may continue their sessions under their claims).
            state.released_earlier || !state.journals_decided
        };
        if !released_earlier {
            match self
                .directory
                .release_earlier_claims(&self.settings.id, &self.incarnation)
                .await
            {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(
                            released = n,
                            "freed the channels this recorder held before it restarted"
                        );
                    }
                    self.state().released_earlier = true;
                }
                Err(_) => self.counters.directory_error("release"),
            }
        }
        if beat == Beat::Restored || lapsed {
            if beat == Beat::Restored {
                tracing::warn!(
                    "the directory had lost this recorder's record: restoring its claims"
                );
            }
            self.check_claims(&held, sessions, renewed_before).await;
        }
        match self.directory.members().await {
            Ok(members) => {
                self.counters
                    .recorders
                    .set(i64::try_from(members.live().count()).unwrap_or(0));
                self.state().members = members;
            }
            Err(_) => self.counters.directory_error("members"),
        }
        self.fail_over(&held, sessions).await;
        let usage = self.directory.usage();
        self.counters.directory_usage(usage.reads, usage.writes);
    }

    /// Failover: the sessions of recorders whose heartbeat went stale are continued here, while
    /// this recorder has room (the directory's compare-and-set picks one taker per session).
    async fn fail_over(&self, held: &[(HeldSession, Option<String>)], sessions: &dyn HeldSessions) {
        if self.is_draining() {
            return;
        }
        // The claims of silent recorders (their last heartbeat may not list their newest
        // sessions), not yet found released or continued.
        let silent: Vec<String> = {
            let state = self.state();
            state
                .members
                .all
                .iter()
                .filter(|m| !m.live && m.member.id != self.settings.id)
                .map(|m| m.member.id.clone())
                .collect()
        };
        let mut orphans = Vec::new();
        for id in silent {
            match self.directory.active_claims_of(&id).await {
                Ok(claims) => {
                    orphans.extend(claims.into_iter().map(|(channel, claim)| HeldSession {
                        sid: claim.sid,
                        channel,
                        fencing: claim.fencing,
                    }))
                }
                Err(_) => {
                    self.counters.directory_error("failover_scan");
                    return;
                }
            }
        }
        let orphans: Vec<HeldSession> = {
            let state = self.state();
            orphans
                .into_iter()
                .filter(|s| !held.iter().any(|(h, _)| h.sid == s.sid))
                .filter(|s| !state.settled.contains(&(s.sid.clone(), s.fencing)))
                .collect()
        };
        for orphan in orphans {
            if sessions.in_use() >= self.capacity as usize {
                return;
            }
            match self
                .take_over(&orphan.channel, &orphan.sid, Takeover::Failover)
                .await
            {
                Ok(Some((fencing, route))) => {
                    self.counters.takeover("failover");
                    tracing::warn!(sid = %orphan.sid, channel = %orphan.channel, from = %route.earlier.last().map(|s| s.recorder.as_str()).unwrap_or(""), fencing, "continuing a session whose recorder went silent");
                    sessions.continue_session(route, fencing);
                    // The directory lists it under this recorder at once, not a beat later.
                    self.beat_now.notify_one();
                }
                // Released, continued by another, or its owner is back: nothing to do, ever.
                Ok(None) => {
                    self.state().settled.insert((orphan.sid, orphan.fencing));
                }
                Err(_) => return,
            }
        }
    }

    /// After a gap: each claim is still ours (restored if the directory forgot it), or lost.
    async fn check_claims(
        &self,
        held: &[(HeldSession, Option<String>)],
        sessions: &dyn HeldSessions,
        until_ms: Option<f64>,
    ) {
        for (session, filename) in held {
            let current = match self.directory.channel(&session.channel).await {
                Ok(current) => current,
                Err(_) => {
                    self.counters.directory_error("claim_check");
                    continue;
                }
            };
            let ours = match current {
                Some(claim) if claim.sid == session.sid && claim.fencing == session.fencing => true,
                Some(claim) if claim.active || claim.fencing > session.fencing => {
                    self.lost(sessions, session, claim.fencing, until_ms);
                    continue;
                }
                // Gone (a reset) or released by someone: ours again, with our number.
                _ => false,
            };
            if ours {
                continue;
            }
            let stem = filename
                .as_deref()
                .and_then(memharbor_shared::cluster::stem_of_file);
            match self
                .directory
                .restore_claim(
                    session,
                    &self.settings.id,
                    &self.incarnation,
                    stem.as_deref(),
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => self.lost(sessions, session, 0, until_ms),
                Err(_) => self.counters.directory_error("restore"),
            }
        }
    }

    fn lost(
        &self,
        sessions: &dyn HeldSessions,
        session: &HeldSession,
        current_fencing: u64,
        until_ms: Option<f64>,
    ) {
        self.counters.lease_losses.inc();
        tracing::warn!(sid = %session.sid, channel = %session.channel, fencing = session.fencing, current_fencing, "this session's channel belongs to another session now: ending this segment, its audio is kept");
        sessions.lease_lost(LeaseLost {
            sid: session.sid.clone(),
            fencing: session.fencing,
            current_fencing,
            until_ms,
        });
    }
}
