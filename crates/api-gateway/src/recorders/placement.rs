//! Placement: a start goes to the channel's live owner if it has one (the answer says
//! `existing: true`), else to the live, non-draining recorder with the most free places; one
//! that refuses (full, draining, unreachable) is skipped, and before the cluster is called full
//! every open recorder is tried and the channel's owner asked again (another start may have
//! placed it meanwhile).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use memharbor_shared::error_body::ErrorBody;
use memharbor_shared::internal_api::{self, StartAnswer, StartRequest};

use super::cluster_view::ClusterView;
use super::{Members, Recorders, Target};
use crate::error::ApiError;

/// Errors that mean "this recorder takes no new session now: try the next one".
fn refuses_new_sessions(e: &ApiError) -> bool {
    matches!(
        e.code(),
        "at_capacity"
            | "recorder_draining"
            | "shutting_down"
            | "disk_full"
            | "recorder_unavailable"
    )
}

/// 409 `session_orphaned`, with the sid.
fn orphaned(sid: &str) -> ApiError {
    ApiError::Recorder {
        status: StatusCode::CONFLICT,
        body: Box::new(
            ErrorBody::new(
                "session_orphaned",
                "the channel's recording session has lost its recorder and waits to be taken over; its audio is kept. Retry later, or stop it by sid",
                None,
            )
            .with_sid(sid),
        ),
        retry_after: None,
    }
}

impl Recorders {
    /// Starts recording the channel where it belongs, or answers its session.
    pub async fn start(
        &self,
        request: &StartRequest,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let view = match &self.members {
            Members::Fixed(target) => {
                return self
                    .client
                    .post_json::<_, StartAnswer>(
                        &target.url,
                        internal_api::SESSIONS,
                        request,
                        true,
                        rid,
                    )
                    .await
                    .map(|(response, _)| response);
            }
            Members::Cluster(view) => view,
        };
        let mut tried: Vec<String> = Vec::new();
        // The channel's live session first: its recorder answers it (`existing: true`).
        if let Some(done) = self.on_owner(view, request, rid, &mut tried).await? {
            return Ok(done);
        }
        let mut skipped = 0usize;
        // The most room first; then, before saying the cluster is full, every open recorder the
        // last read called full (places free up between reads).
        let first = view.placement().await?;
        let second = view.open();
        for target in first.into_iter().chain(second) {
            if tried.contains(&target.id) {
                continue;
            }
            match self.start_on(view, &target, request, rid).await {
                Err(e) if refuses_new_sessions(&e) => {
                    view.placed(&target.id, true);
                    skipped += 1;
                    self.metrics.placement("skipped_full");
                    tried.push(target.id);
                }
                Err(e) if e.code() == "claimed_elsewhere" => {
                    // Another start won the channel a moment ago: answer its session. If that
                    // claim was given back meanwhile (its recorder had no place), go on.
                    tried.push(target.id);
                    if let Some(done) = self.on_owner(view, request, rid, &mut tried).await? {
                        return Ok(done);
                    }
                }
                done => return done,
            }
        }
        // Every recorder refused, but a start for the same channel may have been placed meanwhile
        // (through another gateway): its owner answers it (`existing`), full or not.
        tried.clear();
        if let Some(done) = self.on_owner(view, request, rid, &mut tried).await? {
            return Ok(done);
        }
        let live = view.known().live().count();
        if live == 0 {
            self.metrics.placement("no_recorder");
            return Err(ApiError::Upstream {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "recorder_unavailable",
                message: "no recorder is running; retry shortly",
                cause: "no live recorder in the directory".into(),
            });
        }
        self.metrics.placement("capacity_exhausted");
        Err(ApiError::Upstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "capacity_exhausted",
            message: "every recorder of the cluster is full or draining; retry shortly, or stop a recording",
            cause: format!("{live} live recorders, {skipped} refused"),
        })
    }

    /// The start, answered by the recorder that holds the channel's claim (if any, and not
    /// tried yet). `None` when there is none, or it refused: a claim it had just given back
    /// because it had no place.
    async fn on_owner(
        &self,
        view: &ClusterView,
        request: &StartRequest,
        rid: Option<&HeaderValue>,
        tried: &mut Vec<String>,
    ) -> Result<Option<HttpResponse>, ApiError> {
        let Some(owner) = self.owner_for_start(view, &request.channel).await? else {
            return Ok(None);
        };
        if tried.contains(&owner.id) {
            return Ok(None);
        }
        match self.start_on(view, &owner, request, rid).await {
            Err(e) if refuses_new_sessions(&e) || e.code() == "claimed_elsewhere" => {
                tried.push(owner.id);
                Ok(None)
            }
            done => done.map(Some),
        }
    }

    /// The recorder of the channel's live session; 409 if its session lost its recorder.
    async fn owner_for_start(
        &self,
        view: &ClusterView,
        channel: &str,
    ) -> Result<Option<Target>, ApiError> {
        match view.claim(channel).await? {
            Some((claim, _)) if !claim.active => Ok(None),
            Some((claim, true)) => Ok(view.target(&claim.recorder)),
            Some((claim, false)) => {
                self.metrics.placement("orphaned");
                Err(orphaned(&claim.sid))
            }
            None => Ok(None),
        }
    }

    async fn start_on(
        &self,
        view: &ClusterView,
        target: &Target,
        request: &StartRequest,
        rid: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let (response, answer) = self
            .client
            .post_json::<_, StartAnswer>(&target.url, internal_api::SESSIONS, request, true, rid)
            .await?;
        view.remember(&answer.sid.to_string(), &target.id);
        if answer.existing {
            self.metrics.placement("existing");
        } else {
            view.placed(&target.id, false);
            self.metrics.placement("placed");
        }
        Ok(response)
    }
}
