//! The recorder's client for the gateway (the mirror of the gateway's `recorder_client`): fresh
//! bot tokens when Agora says the current one will expire. The recorder never holds the App
//! Certificate: it asks the gateway (`POST /internal/bot-token`), proving itself with the
//! internal key.

use std::time::Duration;

use memharbor_shared::internal_api::{self, BotToken, BotTokenRequest};
use memharbor_shared::internal_auth;

#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    gateway: String,
    key: String,
}

impl GatewayClient {
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

    /// A new subscriber token for the bot in `channel` (the gateway knows the bot's uid).
    pub async fn bot_token(&self, channel: &str) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}{}", self.gateway, internal_api::BOT_TOKEN))
            .header(internal_auth::HEADER, &self.key)
            .json(&BotTokenRequest {
                channel: channel.to_owned(),
            })
            .send()
            .await
            .map_err(|e| format!("gateway unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("gateway answered {}", response.status()));
        }
        response
            .json::<BotToken>()
            .await
            .map(|m| m.token)
            .map_err(|e| format!("gateway answered garbage: {e}"))
    }
}
