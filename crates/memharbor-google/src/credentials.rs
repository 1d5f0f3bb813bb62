//! Credentials for Google's APIs: the only module that uses `gcp_auth`. Emulators take the bearer
//! `owner`, as Google's own clients send them.

use std::sync::Arc;

use gcp_auth::{CustomServiceAccount, TokenProvider};

use super::GoogleError;

/// One scope covers Storage and Firestore.
const SCOPES: &[&str] = &["https://www.googleapis.com/auth/cloud-platform"];

#[derive(Clone)]
pub enum Credentials {
    Emulator,
    Provider(Arc<dyn TokenProvider>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Emulator => "Credentials(emulator)",
            Credentials::Provider(_) => "Credentials(<redacted>)",
        })
    }
}

/// Checks a service account key without keeping it (for settings: one clear line, no secret).
pub fn check_service_account(json: &str) -> Result<(), String> {
    CustomServiceAccount::from_json(json)
        .map(drop)
        .map_err(|_| {
            "is not a service account key: paste the JSON key file of a service account (one line)"
                .to_owned()
        })
}

impl Credentials {
    pub fn service_account(json: &str) -> Result<Self, String> {
        CustomServiceAccount::from_json(json)
            .map(|sa| Credentials::Provider(Arc::new(sa)))
            .map_err(|e| format!("FIREBASE_SERVICE_ACCOUNT cannot be used: {e}"))
    }

    /// Application Default Credentials (key file, gcloud, or the metadata server).
    pub async fn application_default() -> Result<Self, String> {
        gcp_auth::provider()
            .await
            .map(Credentials::Provider)
            .map_err(|e| format!("no Google credentials found (set FIREBASE_SERVICE_ACCOUNT, or run where Application Default Credentials exist): {e}"))
    }

    /// The credentials `source` names (a service account key is read, never logged).
    pub async fn from_source(source: &crate::CredentialSource) -> Result<Self, String> {
        use secrecy::ExposeSecret as _;
        match source {
            crate::CredentialSource::Emulator => Ok(Credentials::Emulator),
            crate::CredentialSource::ServiceAccount(json) => {
                Self::service_account(json.expose_secret())
            }
            crate::CredentialSource::ApplicationDefault => Self::application_default().await,
        }
    }

    /// The `Authorization` header value.
    pub async fn bearer(&self) -> Result<String, GoogleError> {
        match self {
            Credentials::Emulator => Ok("Bearer owner".to_owned()),
            Credentials::Provider(provider) => provider
                .token(SCOPES)
                .await
                .map(|t| format!("Bearer {}", t.as_str()))
                .map_err(|e| {
                    GoogleError::Transient(format!("cannot get a Google access token: {e}"))
                }),
        }
    }
}
