//! Google Cloud's REST APIs as Memharbor uses them, in one place: [`Credentials`] (the only user
//! of `gcp_auth`; emulators take the bearer `owner`) and [`firestore`] (documents as plain JSON,
//! reads, writes with preconditions and server timestamps, queries). The recorder's recordings
//! collection and the cluster's directory both go through it.

mod credentials;
pub mod firestore;
pub mod settings;

pub use credentials::{Credentials, check_service_account};
pub use settings::{CredentialSource, FirestoreSettings};

/// How a call to a Google API failed, which decides what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    /// Network trouble, 5xx, 429: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// Refused (401, 403, a missing bucket or project, a bad request): retrying cannot help until
    /// the configuration changes.
    #[error("{0}")]
    Permanent(String),
    /// A write's precondition did not hold (the document exists, or changed since it was read).
    #[error("the document changed: {0}")]
    Conflict(String),
}

impl GoogleError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, GoogleError::Permanent(_))
    }
}

/// Classifies an HTTP answer of a Google API (`what` says which call).
pub fn http_error(what: &str, status: reqwest::StatusCode, body: &str) -> GoogleError {
    let detail: String = body.chars().take(300).collect();
    let text = format!("{what}: {status} {}", detail.trim());
    match status.as_u16() {
        401 => GoogleError::Permanent(format!(
            "{text} — the credentials were rejected; check FIREBASE_SERVICE_ACCOUNT"
        )),
        403 => GoogleError::Permanent(format!(
            "{text} — permission denied; give the service account access to the bucket and Firestore"
        )),
        404 => GoogleError::Permanent(format!(
            "{text} — not found; check FIREBASE_STORAGE_BUCKET and FIREBASE_PROJECT_ID"
        )),
        400 | 405 | 409 | 411 | 412 | 413 => GoogleError::Permanent(text),
        _ => GoogleError::Transient(text),
    }
}

pub fn transport_error(what: &str, e: &reqwest::Error) -> GoogleError {
    GoogleError::Transient(format!("{what}: {e}"))
}
