//! Firebase: recordings uploaded to Storage and described in Firestore, through their REST APIs.
//! `gcs` (Storage) and `firestore` (the recordings collection) each own one API, over
//! `memharbor_google` (credentials, Firestore's REST calls); `document` is the Firestore
//! document's schema; `job` is the persisted record of one upload and `queue` makes
//! every upload happen exactly once, whatever fails on the way.

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
pub use memharbor_google::Credentials;
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

impl From<memharbor_google::GoogleError> for FirebaseError {
    fn from(e: memharbor_google::GoogleError) -> Self {
        use memharbor_google::GoogleError;
        match e {
            GoogleError::Transient(text) => FirebaseError::Transient(text),
            GoogleError::Permanent(text) | GoogleError::Conflict(text) => {
                FirebaseError::Permanent(text)
            }
        }
    }
}

/// Classifies an HTTP answer of a Google API.
pub(crate) fn http_error(what: &str, status: reqwest::StatusCode, body: &str) -> FirebaseError {
    memharbor_google::http_error(what, status, body).into()
}

pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> FirebaseError {
    memharbor_google::transport_error(what, e).into()
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
                memharbor_google::Credentials::Emulator,
                gcs::Endpoints::emulator(storage, firestore),
            ),
            FirebaseCredentials::ServiceAccount(json) => (
                memharbor_google::Credentials::service_account(json.expose_secret())?,
                gcs::Endpoints::production(),
            ),
            FirebaseCredentials::ApplicationDefault => (
                memharbor_google::Credentials::application_default().await?,
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
            firestore: Arc::new(Firestore::new(memharbor_google::firestore::Firestore::new(
                http,
                &endpoints.firestore,
                &settings.project_id,
                credentials,
            ))),
        })
    }
}
