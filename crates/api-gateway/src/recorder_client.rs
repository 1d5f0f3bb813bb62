//! The gateway's client for the recorder's internal API (`RECORDER_URL`).

use std::time::Duration;

use memharbor_shared::internal_auth;

/// Talks to the recorder; every call carries the internal key derived from `MEMHARBOR_SECRET_KEY`.
#[derive(Debug, Clone)]
pub struct RecorderClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl RecorderClient {
    pub fn new(base: &str, secret_key: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: internal_auth::derive_key(secret_key),
        })
    }

    /// True if the recorder answers `/livez` within a second.
    pub async fn is_alive(&self) -> bool {
        self.http
            .get(format!("{}/livez", self.base))
            .header(internal_auth::HEADER, &self.key)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}
