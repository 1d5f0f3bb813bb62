//! Firebase: recordings uploaded to Storage and described in Firestore, through their REST APIs.
//! `gcs` (Storage) and `firestore` each own one API; `auth` owns credentials; `document` is the
//! Firestore document's schema; `job` is the persisted record of one upload and `queue` makes
//! every upload happen exactly once, whatever fails on the way.

pub mod auth;
pub mod document;
pub mod firestore;
pub mod gcs;
pub mod job;
pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

pub use firestore::Firestore;
pub use gcs::Storage;
pub use queue::UploadQueue;

/// Where recordings go when Firebase is configured.
#[derive(Debug, Clone)]
pub struct FirebaseSettings {
    pub project_id: String,
    pub bucket: String,
    pub credentials: FirebaseCredentials,
    /// How long stop waits for the upload before answering `upload: pending`.
    pub upload_wait: Duration,
    /// Resumable upload chunk size (a multiple of 256 KiB).
    pub chunk_bytes: u64,
    /// Days a local copy is kept after its upload is confirmed.
    pub keep_local: Duration,
}

#[derive(Debug, Clone)]
pub enum FirebaseCredentials {
    /// `FIREBASE_USE_EMULATOR=true`: no credentials; the emulators' base URLs.
    Emulator { firestore: String, storage: String },
    /// `FIREBASE_SERVICE_ACCOUNT`: a service account key (JSON).
    ServiceAccount(SecretString),
    /// Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, metadata server, gcloud).
    ApplicationDefault,
}

/// How a Firebase call failed, which decides whether to retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FirebaseError {
    /// Network trouble, 5xx, 429: retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// Refused (401, 403, a missing bucket, a bad request): retrying cannot help until the
    /// configuration changes; retried at the next start.
    #[error("{0}")]
    Permanent(String),
    /// The resumable upload session is gone (expired): start the upload again.
    #[error("{0}")]
    SessionGone(String),
}

impl FirebaseError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, FirebaseError::Permanent(_))
    }
}

/// Classifies an HTTP answer of a Google API.
pub(crate) fn http_error(what: &str, status: reqwest::StatusCode, body: &str) -> FirebaseError {
    let detail: String = body.chars().take(300).collect();
    let text = format!("{what}: {status} {}", detail.trim());
    match status.as_u16() {
        401 => FirebaseError::Permanent(format!(
            "{text} — the credentials were rejected; check FIREBASE_SERVICE_ACCOUNT"
        )),
        403 => FirebaseError::Permanent(format!(
            "{text} — permission denied; give the service account access to the bucket and Firestore"
        )),
        404 => FirebaseError::Permanent(format!(
            "{text} — not found; check FIREBASE_STORAGE_BUCKET and FIREBASE_PROJECT_ID"
        )),
        400 | 405 | 409 | 411 | 412 | 413 => FirebaseError::Permanent(text),
        _ => FirebaseError::Transient(text),
    }
}

pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> FirebaseError {
    FirebaseError::Transient(format!("{what}: {e}"))
}

/// The Firebase clients, built once at start.
#[derive(Debug, Clone)]
pub struct Firebase {
    pub storage: Arc<Storage>,
    pub firestore: Arc<Firestore>,
}

impl Firebase {
    /// Builds the clients; fails (at start) if credentials cannot be set up.
    pub async fn connect(settings: &FirebaseSettings) -> Result<Self, String> {
        use secrecy::ExposeSecret as _;
        let (credentials, endpoints) = match &settings.credentials {
            FirebaseCredentials::Emulator { firestore, storage } => (
                auth::Credentials::Emulator,
                gcs::Endpoints::emulator(storage, firestore),
            ),
            FirebaseCredentials::ServiceAccount(json) => (
                auth::Credentials::service_account(json.expose_secret())?,
                gcs::Endpoints::production(),
            ),
            FirebaseCredentials::ApplicationDefault => (
                auth::Credentials::application_default().await?,
                gcs::Endpoints::production(),
            ),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        let credentials = Arc::new(credentials);
        Ok(Self {
            storage: Arc::new(Storage::new(
                http.clone(),
                &endpoints,
                &settings.bucket,
                settings.chunk_bytes,
                Arc::clone(&credentials),
            )),
            firestore: Arc::new(Firestore::new(
                http,
                &endpoints.firestore,
                &settings.project_id,
                credentials,
            )),
        })
    }
}
