//! Fresh bot tokens when Agora says the current one will expire. The recorder never holds the App
//! Certificate: it asks the gateway (`POST /internal/bot-token`), proving itself with the internal key.

use std::time::Duration;

use memharbor_shared::internal_auth;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct TokenSource {
    http: reqwest::Client,
    gateway: String,
    key: String,
}

#[derive(Deserialize)]
struct Minted {
    token: String,
}

impl TokenSource {
    pub fn new(gateway: &str, key: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            http,
            gateway: gateway.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// A new subscriber token for the bot's uid in `channel`.
    pub async fn bot_token(&self, channel: &str, uid: u32) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}/internal/bot-token", self.gateway))
            .header(internal_auth::HEADER, &self.key)
            .json(&serde_json::json!({"channel": channel, "uid": uid}))
            .send()
            .await
            .map_err(|e| format!("gateway unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("gateway answered {}", response.status()));
        }
        response
            .json::<Minted>()
            .await
            .map(|m| m.token)
            .map_err(|e| format!("gateway answered garbage: {e}"))
    }
}
