//! The recorder's one error type, and the one place it becomes an HTTP status and JSON body. The
//! gateway passes these bodies on to clients, so codes are the public ones.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use memharbor_shared::error_body::ErrorBody;

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_S: u32 = 10;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RecorderError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    #[error("missing or invalid internal key")]
    Unauthorized,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("no recording session with that sid, and no active session for that channel")]
    SessionNotFound,
    #[error("no recording with that name")]
    RecordingNotFound,
    /// Cluster mode, between recorders: no such segment here.
    #[error("no such segment on this recorder")]
    SegmentNotFound,
    #[error("the recorder is at its session limit")]
    AtCapacity,
    #[error("the recorder is shutting down")]
    ShuttingDown,
    #[error("the recorder is draining")]
    Draining,
    /// Cluster mode: another live recorder's session has the channel (the gateway forwards the
    /// start there).
    #[error("the channel is recorded by recorder {recorder} (session {sid})")]
    ClaimedElsewhere { sid: String, recorder: String },
    /// Cluster mode: the channel's session lost its recorder and waits to be taken over.
    #[error("the channel's session {sid} lost its recorder")]
    SessionOrphaned { sid: String },
    /// Cluster mode: Firestore cannot be reached, so no claim can be made.
    #[error("the cluster's directory is unavailable: {0}")]
    DirectoryUnavailable(String),
    #[error("the recordings' disk is nearly full")]
    DiskFull,
    #[error("the recording could not be finished and is being repaired")]
    Repairing,
    #[error("the bot could not join the channel: {0}")]
    JoinFailed(String),
    #[error("the bot did not manage to join the channel in time")]
    JoinTimeout,
    #[error("the recording browser failed: {0}")]
    Browser(String),
    #[error("Firestore failed: {0}")]
    Firestore(String),
    #[error("{0}")]
    Internal(String),
}

impl RecorderError {
    pub fn bad_request(
        code: &'static str,
        field: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self::BadRequest {
            code,
            field,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            RecorderError::BadRequest { code, .. } => code,
            RecorderError::Unauthorized => "unauthorized",
            RecorderError::RouteNotFound => "not_found",
            RecorderError::MethodNotAllowed { .. } => "method_not_allowed",
            RecorderError::SessionNotFound => "session_not_found",
            RecorderError::RecordingNotFound => "recording_not_found",
            RecorderError::SegmentNotFound => "segment_not_found",
            RecorderError::AtCapacity => "at_capacity",
            RecorderError::ShuttingDown => "shutting_down",
            RecorderError::Draining => "recorder_draining",
            RecorderError::ClaimedElsewhere { .. } => "claimed_elsewhere",
            RecorderError::SessionOrphaned { .. } => "session_orphaned",
            RecorderError::DirectoryUnavailable(_) => "directory_unavailable",
            RecorderError::DiskFull => "disk_full",
            RecorderError::Repairing => "recording_repairing",
            RecorderError::JoinFailed(_) => "join_failed",
            RecorderError::JoinTimeout => "join_timeout",
            RecorderError::Browser(_) => "browser_error",
            RecorderError::Firestore(_) => "firestore_error",
            RecorderError::Internal(_) => "recording_failed",
        }
    }

    fn message(&self) -> String {
        match self {
            RecorderError::MethodNotAllowed { allow } => format!("this route accepts {allow} only"),
            RecorderError::AtCapacity => format!(
                "the recorder is at its session limit; retry in {RETRY_AFTER_S} s or stop another recording"
            ),
            RecorderError::ShuttingDown => "the recorder is shutting down and takes no new sessions; retry shortly".into(),
            RecorderError::Draining => "the recorder is draining and takes no new sessions; another recorder will".into(),
            RecorderError::ClaimedElsewhere { .. } => "the channel is recorded by another recorder of the cluster; the gateway routes to it".into(),
            RecorderError::SessionOrphaned { .. } => "the channel's recording session has lost its recorder and waits to be taken over; its audio is kept. Retry later, or stop it by sid".into(),
            RecorderError::DirectoryUnavailable(_) => format!(
                "the cluster's directory (Firestore) cannot be reached, so no new recording can be placed safely; recordings in progress go on. Retry in {RETRY_AFTER_S} s"
            ),
            RecorderError::DiskFull => format!(
                "the recorder's disk is nearly full and takes no new sessions; retry in {RETRY_AFTER_S} s (its operator has been told)"
            ),
            RecorderError::Repairing => format!(
                "the recording could not be finished and is being repaired; its audio is kept. Retry in {RETRY_AFTER_S} s"
            ),
            RecorderError::JoinTimeout => "the recording bot did not manage to join the Agora channel in time; check the App ID and the network, then retry".into(),
            RecorderError::JoinFailed(why) => format!("the recording bot could not join the Agora channel: {why}"),
            RecorderError::Browser(_) => "the recording browser failed; retry, and check the recorder's logs if it persists".into(),
            RecorderError::Firestore(_) => "the recordings catalogue (Firestore) could not be read; retry shortly".into(),
            // Internal causes go to the log, not to clients.
            RecorderError::Internal(_) => "the recording could not be finished; its audio is kept and will be recovered".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for RecorderError {
    fn status_code(&self) -> StatusCode {
        match self {
            RecorderError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            RecorderError::Unauthorized => StatusCode::UNAUTHORIZED,
            RecorderError::RouteNotFound
            | RecorderError::SessionNotFound
            | RecorderError::RecordingNotFound
            | RecorderError::SegmentNotFound => StatusCode::NOT_FOUND,
            RecorderError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            RecorderError::ClaimedElsewhere { .. } | RecorderError::SessionOrphaned { .. } => {
                StatusCode::CONFLICT
            }
            RecorderError::AtCapacity
            | RecorderError::ShuttingDown
            | RecorderError::Draining
            | RecorderError::DirectoryUnavailable(_)
            | RecorderError::DiskFull
            | RecorderError::Repairing => StatusCode::SERVICE_UNAVAILABLE,
            RecorderError::JoinFailed(_)
            | RecorderError::Browser(_)
            | RecorderError::Firestore(_) => StatusCode::BAD_GATEWAY,
            RecorderError::JoinTimeout => StatusCode::GATEWAY_TIMEOUT,
            RecorderError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let field = match self {
            RecorderError::BadRequest { field, .. } => *field,
            _ => None,
        };
        if self.status_code().is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            RecorderError::AtCapacity
            | RecorderError::ShuttingDown
            | RecorderError::Draining
            | RecorderError::DirectoryUnavailable(_)
            | RecorderError::DiskFull
            | RecorderError::Repairing => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_S.to_string()));
            }
            RecorderError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        let body = ErrorBody::new(self.code(), self.message(), field);
        response.json(match self {
            RecorderError::ClaimedElsewhere { sid, .. }
            | RecorderError::SessionOrphaned { sid } => body.with_sid(sid.clone()),
            _ => body,
        })
    }
}
