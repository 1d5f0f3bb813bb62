//! The routing seam: which recorder each `/api/recording/*` request goes to. One recorder at
//! `RECORDER_URL` (single mode: a directory with one fixed member), or the cluster's members in
//! the Firestore directory (cluster mode). Handlers call the operations here and never ask
//! which mode runs.
//!
//! - start (`placement`): the channel's live owner if it has one (the answer says
//!   `existing: true`), else the placeable recorder with the most free room.
//! - stop / status by sid or channel, `GET /{sid}`, files: the recorder that holds it (cached,
//!   then the directory, then — for sessions the directory cannot name — each live recorder).
//! - status: every live recorder's sessions, merged. list: any live recorder (Firestore).

mod cluster_view;
mod placement;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpResponse, ResponseError as _};
use futures_util::future::join_all;
use memharbor_shared::internal_api::{
    self, ForUser, RecordingList, SessionAnswer, SessionList, SessionStatus, StopAnswer, StopTarget,
};

pub use cluster_view::ClusterView;
use cluster_view::directory_unavailable;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::recorder_client::{RecorderClient, RecorderHealth};

/// A recorder the gateway can call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `RECORDER_ID` (single mode: `recorder`).
    pub id: String,
    /// Its internal API's base URL.
    pub url: String,
}

/// Where recorders are found.
#[derive(Debug)]
enum Members {
    /// Single mode: the one recorder at `RECORDER_URL`.
    Fixed(Target),
    /// Cluster mode: the Firestore directory.
    Cluster(Arc<ClusterView>),
}

/// What `/api/health` reports of the recorders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordersHealth {
    pub recorder: RecorderHealth,
    /// Cluster mode: live recorders, their capacity and sessions in use.
    pub cluster: Option<(usize, u64, u64)>,
}

fn not_found(e: &ApiError) -> bool {
    e.status_code() == StatusCode::NOT_FOUND
}

fn session_not_found() -> ApiError {
    ApiError::NotFound {
        code: "session_not_found",
        message: "no recording session with that sid, and no active session for that channel"
            .into(),
    }
}

/// The recorders behind the gateway.
#[derive(Debug)]
pub struct Recorders {
    client: RecorderClient,
    members: Members,
    metrics: Arc<Metrics>,
}

impl Recorders {
    /// Single mode: the recorder at `url`.
    pub fn single(client: RecorderClient, url: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            members: Members::Fixed(Target {
                id: "recorder".into(),
                url: url.trim_end_matches('/').to_owned(),
            }),
            metrics,
        }
    }

    /// Cluster mode: the members of `view`'s directory.
    pub fn cluster(client: RecorderClient, view: Arc<ClusterView>, metrics: Arc<Metrics>) -> Self {
        view.spawn_refresh();
        Self {
            client,
            members: Members::Cluster(view),
            metrics,
        }
    }

    // ---- routed by sid, channel or file ------------------------------------------------------

    /// Where session `sid` is: its recorder, or (when no one can say) every live recorder.
    async fn holders_of_sid(&self, sid: &str) -> Result<(Vec<Target>, bool), ApiError> {
        let view = match &self.members {
            Members::Fixed(target) => return Ok((vec![target.clone()], false)),
            Members::Cluster(view) => view,
        };
        // Sids are UUIDs: anything else names no session (and never reaches the directory).
        if uuid::Uuid::parse_str(sid).is_err() {
            return Ok((Vec::new(), false));
        }
        if let Some(id) = view.cached(sid)
            && let Some(target) = view.target(&id)
        {
            return Ok((vec![target], true));
        }
        match view.route(sid).await {
            Ok(Some(id)) => Ok((view.target(&id).into_iter().collect(), false)),
            Ok(None) => Ok((view.live(), false)),
            // The directory is away: ask the recorders themselves.
            Err(_) => Ok((view.live(), false)),
        }
    }

    /// Calls `call` on the holders of `sid` until one knows it. A cached holder that does not is
    /// forgotten and the directory asked again.
    async fn by_sid<F, Fut>(&self, sid: &str, call: F) -> Result<HttpResponse, ApiError>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = Result<HttpResponse, ApiError>>,
    {
        let (holders, cached) = self.holders_of_sid(sid).await?;
        let result = self.first_that_knows(holders, &call).await;
        match (&self.members, cached, &result) {
            (Members::Cluster(view), true, Err(e))
                if not_found(e) || e.code() == "recorder_unavailable" =>
            {
                view.forget(sid);
                let (holders, _) = self.holders_of_sid(sid).await?;
                self.first_that_knows(holders, &call).await
            }
            _ => result,
        }
    }

    async fn first_that_knows<F, Fut>(
        &self,
        holders: Vec<Target>,
        call: &F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = Result<HttpResponse, ApiError>>,
    {
        let mut last = None;
        for target in holders {
            match call(target).await {
                Err(e) if not_found(&e) || e.code() == "recorder_unavailable" => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or_else(session_not_found))
    }

    /// Stops a session (by sid or channel) on the recorder that holds it.
    pub async fn stop(
        &self,
        target: &StopTarget,
        for_user: Option<&str>,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let request = target.request(for_user);
        let call = |holder: Target| {
            let request = request.clone();
            async move {
                self.client
                    .post_json::<_, StopAnswer>(
                        &holder.url,
                        internal_api::STOP,
                        &request,
                        true,
                        rid,
                    )
                    .await
                    .map(|(response, _)| response)
            }
        };
        match target {
            StopTarget::Sid(sid) => self.by_sid(sid, call).await,
            StopTarget::Channel(channel) => {
                let holders = match &self.members {
                    Members::Fixed(target) => vec![target.clone()],
                    Members::Cluster(_)
                        if memharbor_shared::channel::RecordingChannel::parse(channel)
                            .is_none() =>
                    {
                        return Err(session_not_found());
                    }
                    Members::Cluster(view) => match view.claim(channel).await {
                        // The claim names the recorder also after the session ended.
                        Ok(Some((claim, _))) => view.target(&claim.recorder).into_iter().collect(),
                        Ok(None) => return Err(session_not_found()),
                        Err(_) => view.live(),
                    },
                };
                self.first_that_knows(holders, &call).await
            }
        }
    }

    /// `GET /api/recording/{sid}` from the recorder that holds it.
    pub async fn session(
        &self,
        sid: &str,
        for_user: Option<&str>,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let path = format!("{}{}", internal_api::session(sid), ForUser::query(for_user));
        self.by_sid(sid, |holder: Target| {
            let path = path.clone();
            async move {
                self.client
                    .get_json::<SessionAnswer>(&holder.url, &path, rid)
                    .await
            }
        })
        .await
    }

    /// Streams a file from the recorder that holds it (`Range` and conditionals forwarded).
    pub async fn file(
        &self,
        filename: &str,
        headers: &[(&str, &HeaderValue)],
        for_user: Option<&str>,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let path = format!(
            "{}{}",
            internal_api::file(filename),
            ForUser::query(for_user)
        );
        let holders = match &self.members {
            Members::Fixed(target) => vec![target.clone()],
            Members::Cluster(view) => {
                let mut holders = view.live();
                let named = match memharbor_shared::cluster::stem_of_file(filename) {
                    Some(stem) => view.route_stem(&stem).await.ok().flatten(),
                    None => None,
                };
                if let Some(target) = named.and_then(|id| view.target(&id)) {
                    holders.retain(|t| t.id != target.id);
                    holders.insert(0, target);
                }
                holders
            }
        };
        let mut last = None;
        for holder in holders {
            match self.client.get_file(&holder.url, &path, headers, rid).await {
                Err(e) if not_found(&e) || e.code() == "recorder_unavailable" => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or(ApiError::NotFound {
            code: "recording_not_found",
            message: "no recording with that file name".into(),
        }))
    }

    // ---- every recorder ------------------------------------------------------------------------

    fn everyone(&self) -> Vec<Target> {
        match &self.members {
            Members::Fixed(target) => vec![target.clone()],
            Members::Cluster(view) => view.live(),
        }
    }

    /// The sessions in progress on every recorder (of `for_user`'s channels, if given), oldest
    /// first. A recorder that does not answer is left out (and logged) unless none answers.
    pub async fn sessions(
        &self,
        for_user: Option<&str>,
        rid: Option<&HeaderValue>,
    ) -> Result<Vec<SessionStatus>, ApiError> {
        let path = format!("{}{}", internal_api::SESSIONS, ForUser::query(for_user));
        let targets = self.everyone();
        let answers = join_all(
            targets
                .iter()
                .map(|t| self.client.get_typed::<SessionList>(&t.url, &path, rid)),
        )
        .await;
        let mut sessions = Vec::new();
        let mut first_error = None;
        let mut answered = 0;
        for (target, answer) in targets.iter().zip(answers) {
            match answer {
                Ok(list) => {
                    answered += 1;
                    sessions.extend(list.sessions);
                }
                Err(e) => {
                    tracing::warn!(recorder = target.id, error = %e, "a recorder did not answer its sessions");
                    first_error.get_or_insert(e);
                }
            }
        }
        if answered == 0
            && let Some(e) = first_error
        {
            return Err(e);
        }
        sessions.sort_by_key(|s| s.started_at);
        Ok(sessions)
    }

    /// `GET /api/recording/status`: every recorder's sessions.
    pub async fn status(
        &self,
        for_user: Option<&str>,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        if let Members::Fixed(target) = &self.members {
            // One recorder: its answer as it came.
            let path = format!("{}{}", internal_api::SESSIONS, ForUser::query(for_user));
            return self
                .client
                .get_json::<SessionList>(&target.url, &path, rid)
                .await;
        }
        let sessions = self.sessions(for_user, rid).await?;
        Ok(HttpResponse::Ok().json(SessionList {
            count: sessions.len(),
            sessions,
        }))
    }

    /// `GET /api/recording/list` (`path` with its query): any live recorder answers it (from
    /// Firestore in cluster mode, which every recorder shares).
    pub async fn list(
        &self,
        path: &str,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let mut last = None;
        for target in self.everyone() {
            match self
                .client
                .get_json::<RecordingList>(&target.url, path, rid)
                .await
            {
                Err(e) if e.code() == "recorder_unavailable" => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or_else(|| directory_unavailable("no live recorder to list from".into())))
    }

    /// `/api/health`'s view of the recorders.
    pub async fn health(&self) -> RecordersHealth {
        match &self.members {
            Members::Fixed(target) => RecordersHealth {
                recorder: self.client.health(&target.url).await,
                cluster: None,
            },
            Members::Cluster(view) => {
                let members = view.members().await.unwrap_or_else(|_| view.known());
                let live: Vec<_> = members.live().collect();
                let capacity = live
                    .iter()
                    .filter(|m| !m.member.draining)
                    .map(|m| u64::from(m.member.capacity))
                    .sum();
                let in_use = live.iter().map(|m| u64::from(m.member.in_use)).sum();
                let recorder = match live.first() {
                    Some(m) => self.client.health(m.member.url.trim_end_matches('/')).await,
                    None => RecorderHealth::Unreachable,
                };
                RecordersHealth {
                    recorder,
                    cluster: Some((live.len(), capacity, in_use)),
                }
            }
        }
    }
}
