//! `/internal/sessions*`: start, stop, status, one session, drills.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::RecorderState;
use crate::error::RecorderError;
use crate::session;
use memharbor_shared::internal_api::{ForUser, Given, SessionList, StartRequest, StopTarget};

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, RecorderError> {
    serde_json::from_slice(body).map_err(|e| {
        RecorderError::bad_request(
            "invalid_json",
            None,
            format!("request body is not the expected JSON ({e})"),
        )
    })
}

pub async fn start(
    state: web::Data<RecorderState>,
    body: web::Bytes,
) -> Result<HttpResponse, RecorderError> {
    let request: StartRequest = parse_json(&body)?;
    let view = state.sessions.start(request).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The stop request as sent: its fields are checked by the shared rule, not by serde.
#[derive(Deserialize)]
struct RawStopRequest {
    #[serde(default)]
    sid: Option<Value>,
    #[serde(default)]
    channel: Option<Value>,
    #[serde(default, rename = "forUser")]
    for_user: Option<String>,
}

fn given(value: Option<&Value>) -> Given<'_> {
    match value {
        None | Some(Value::Null) => Given::Absent,
        Some(Value::String(text)) => Given::Text(text),
        Some(_) => Given::Other,
    }
}

pub async fn stop(
    state: web::Data<RecorderState>,
    body: web::Bytes,
) -> Result<HttpResponse, RecorderError> {
    let request: RawStopRequest = parse_json(&body)?;
    let target =
        StopTarget::from_fields(given(request.sid.as_ref()), given(request.channel.as_ref()))
            .map_err(|e| RecorderError::bad_request(e.code, Some(e.field), e.message))?;
    let target = match target {
        StopTarget::Sid(sid) => {
            session::StopTarget::Sid(sid.parse().map_err(|_| RecorderError::SessionNotFound)?)
        }
        StopTarget::Channel(channel) => session::StopTarget::Channel(channel),
    };
    let body = state
        .sessions
        .stop(target, request.for_user.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn status(state: web::Data<RecorderState>, query: web::Query<ForUser>) -> HttpResponse {
    let mut sessions = state.sessions.recording();
    if let Some(user) = &query.for_user {
        sessions.retain(|s| s.user1 == *user || s.user2 == *user);
    }
    HttpResponse::Ok().json(SessionList {
        count: sessions.len(),
        sessions,
    })
}

pub async fn one(
    state: web::Data<RecorderState>,
    path: web::Path<String>,
    query: web::Query<ForUser>,
) -> Result<HttpResponse, RecorderError> {
    let sid: Uuid = path.parse().map_err(|_| RecorderError::SessionNotFound)?;
    let theirs = |user1: &str, user2: &str| {
        query
            .for_user
            .as_deref()
            .is_none_or(|u| u == user1 || u == user2)
    };
    if let Some(entry) = state.sessions.get(sid).and_then(|h| h.status()) {
        return if theirs(&entry.user1, &entry.user2) {
            Ok(HttpResponse::Ok().json(entry))
        } else {
            Err(RecorderError::SessionNotFound)
        };
    }
    match state.store.index.get(sid) {
        Some(record) if theirs(&record.body.user1, &record.body.user2) => {
            Ok(HttpResponse::Ok().json(state.store.current(record.body.clone())))
        }
        _ => Err(RecorderError::SessionNotFound),
    }
}

pub async fn drill(
    state: web::Data<RecorderState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RecorderError> {
    if !state.drills {
        return Err(RecorderError::RouteNotFound);
    }
    let (sid, kind) = path.into_inner();
    let sid: Uuid = sid.parse().map_err(|_| RecorderError::SessionNotFound)?;
    let done = match kind.as_str() {
        "crash-tab" => state.pool.crash_tab(sid).await,
        "kill-browser" => state.pool.kill_browser_of(sid).await,
        // The capture worker busy for 300 ms, as on an overloaded box.
        "stall-capture" => state
            .sessions
            .get(sid)
            .is_some_and(|h| h.send(crate::session::SessionCmd::StallCapture { ms: 300 })),
        _ => return Err(RecorderError::RouteNotFound),
    };
    if done {
        Ok(HttpResponse::Accepted().json(serde_json::json!({"drill": kind, "sid": sid})))
    } else {
        Err(RecorderError::SessionNotFound)
    }
}
