//! The gateway's view of the cluster, read from the directory (`memharbor_directory`): the
//! members (kept fresh by a background read every two seconds, so routing never waits for
//! Firestore), and where each session lives (cached once known: a session never moves within
//! this rules, and a wrong entry is dropped on the first miss).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use memharbor_directory::{ChannelClaim, Directory, Members};
use rand::seq::SliceRandom as _;

use super::Target;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// How often the members are read.
const REFRESH: Duration = Duration::from_secs(2);
/// Most sessions remembered (then the cache starts over; the directory answers the rest).
const SID_CACHE: usize = 50_000;

#[derive(Debug, Default)]
struct Snapshot {
    members: Members,
    read_at: Option<Instant>,
}

#[derive(Debug)]
pub struct ClusterView {
    directory: Directory,
    snapshot: RwLock<Snapshot>,
    refreshing: tokio::sync::Mutex<()>,
    sids: Mutex<HashMap<String, String>>,
    metrics: Arc<Metrics>,
}

pub(crate) fn directory_unavailable(cause: String) -> ApiError {
    ApiError::Upstream {
        status: actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        code: "directory_unavailable",
        message: "the cluster's directory (Firestore) cannot be reached, so no new recording can be placed safely; recordings in progress go on. Retry shortly",
        cause,
    }
}

impl ClusterView {
    pub fn new(directory: Directory, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            directory,
            snapshot: RwLock::default(),
            refreshing: tokio::sync::Mutex::new(()),
            sids: Mutex::default(),
            metrics,
        })
    }

    /// Keeps the members fresh in the background.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let view = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(view) = view.upgrade() else { return };
                let _ = view.refresh().await;
                drop(view);
                tokio::time::sleep(REFRESH).await;
            }
        });
    }

    async fn refresh(&self) -> Result<(), ApiError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let members = self.directory.members().await;
        let usage = self.directory.usage();
        self.metrics.directory_usage(usage.reads, usage.writes);
        match members {
            Ok(members) => {
                self.metrics
                    .cluster_recorders
                    .set(i64::try_from(members.live().count()).unwrap_or(0));
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Snapshot {
                    members,
                    read_at: Some(Instant::now()),
                };
                Ok(())
            }
            Err(e) => {
                self.metrics.directory_error("members");
                Err(directory_unavailable(e.0))
            }
        }
    }

    fn read_at(&self) -> Option<Instant> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .read_at
    }

    /// The members, read at most two refreshes ago; older than a lease (the directory is away)
    /// they cannot be trusted for placement.
    pub async fn members(&self) -> Result<Members, ApiError> {
        if self.read_at().is_none_or(|at| at.elapsed() > 2 * REFRESH)
            && let Err(e) = self.refresh().await
            && self
                .read_at()
                .is_none_or(|at| at.elapsed() > self.directory.stale_after())
        {
            return Err(e);
        }
        Ok(self.known())
    }

    /// The members as last read, however old (for routing to known recorders while the
    /// directory is away).
    pub fn known(&self) -> Members {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .members
            .clone()
    }

    pub fn target(&self, id: &str) -> Option<Target> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .members
            .get(id)
            .map(|m| Target {
                id: m.member.id.clone(),
                url: m.member.url.trim_end_matches('/').to_owned(),
            })
    }

    /// Placeable recorders, most free room first (ties in random order).
    pub async fn placement(&self) -> Result<Vec<Target>, ApiError> {
        let members = self.members().await?;
        let mut placeable: Vec<_> = members.all.iter().filter(|m| m.placeable()).collect();
        placeable.shuffle(&mut rand::rng());
        placeable.sort_by_key(|m| std::cmp::Reverse(m.free()));
        Ok(placeable
            .into_iter()
            .map(|m| Target {
                id: m.member.id.clone(),
                url: m.member.url.trim_end_matches('/').to_owned(),
            })
            .collect())
    }

    /// Live recorders that are not draining, whatever their room as last read: a burst of
    /// starts may have marked one full that has a place again.
    pub fn open(&self) -> Vec<Target> {
        self.known()
            .all
            .iter()
            .filter(|m| m.live && !m.member.draining)
            .map(|m| Target {
                id: m.member.id.clone(),
                url: m.member.url.trim_end_matches('/').to_owned(),
            })
            .collect()
    }

    /// Counts a placement on `id` until the next read (so a burst of starts spreads out), or
    /// marks it full.
    pub fn placed(&self, id: &str, full: bool) {
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = snapshot.members.all.iter_mut().find(|m| m.member.id == id) {
            m.member.in_use = if full {
                m.member.capacity
            } else {
                m.member.in_use.saturating_add(1)
            };
        }
    }

    /// Live members (status, lists, fallbacks).
    pub fn live(&self) -> Vec<Target> {
        self.known()
            .live()
            .map(|m| Target {
                id: m.member.id.clone(),
                url: m.member.url.trim_end_matches('/').to_owned(),
            })
            .collect()
    }

    /// The channel's claim, and whether its owner is live.
    pub async fn claim(&self, channel: &str) -> Result<Option<(ChannelClaim, bool)>, ApiError> {
        let claim = self.directory.channel(channel).await.map_err(|e| {
            self.metrics.directory_error("channel");
            directory_unavailable(e.0)
        })?;
        let Some(claim) = claim else {
            return Ok(None);
        };
        let live = self
            .members()
            .await?
            .is_live(&claim.recorder, &claim.incarnation);
        Ok(Some((claim, live)))
    }

    pub fn remember(&self, sid: &str, recorder: &str) {
        let mut sids = self.sids.lock().unwrap_or_else(PoisonError::into_inner);
        if sids.len() >= SID_CACHE {
            sids.clear();
        }
        sids.insert(sid.to_owned(), recorder.to_owned());
    }

    pub fn forget(&self, sid: &str) {
        self.sids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sid);
    }

    pub fn cached(&self, sid: &str) -> Option<String> {
        self.sids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sid)
            .cloned()
    }

    /// The recorder that holds session `sid`, from the directory.
    pub async fn route(&self, sid: &str) -> Result<Option<String>, ApiError> {
        let route = self.directory.session(sid).await.map_err(|e| {
            self.metrics.directory_error("session");
            directory_unavailable(e.0)
        })?;
        Ok(route.map(|r| {
            self.remember(sid, &r.recorder);
            r.recorder
        }))
    }

    /// The recorder that holds the files starting with `stem`.
    pub async fn route_stem(&self, stem: &str) -> Result<Option<String>, ApiError> {
        let route = self.directory.session_of_stem(stem).await.map_err(|e| {
            self.metrics.directory_error("files");
            directory_unavailable(e.0)
        })?;
        Ok(route.map(|r| r.recorder))
    }
}
