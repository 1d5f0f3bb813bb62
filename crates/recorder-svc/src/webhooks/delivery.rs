//! One delivery: the body signed as Standard Webhooks asks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one signature per
//! configured secret, so a secret can be rotated) and POSTed once. The only user of
//! `standardwebhooks`. Redirects are not followed; the answer's body is not read.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// 410 Gone: the receiver wants no more (the endpoint is disabled until re-enabled).
    Gone,
    /// Anything else: retried on the schedule.
    Failed(String),
}

/// The signing keys, checked when the settings are read.
pub struct Signer(Vec<standardwebhooks::Webhook>);

impl Signer {
    pub fn new(secrets: &[SecretString]) -> Result<Self, String> {
        secrets
            .iter()
            .map(|s| standardwebhooks::Webhook::new(s.expose_secret()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|_| "is not a whsec_… secret (base64 after the prefix)".to_owned())
    }

    /// `v1,<sig>` once per secret, separated by spaces.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        self.0
            .iter()
            .filter_map(|w| w.sign(id, timestamp, body.as_bytes()).ok())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} secrets)", self.0.len())
    }
}

/// The client every delivery uses: bounded, no redirects.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| format!("cannot build the webhook client: {e}"))
}

/// POSTs `body` to `url`, signed now.
pub async fn send(
    client: &reqwest::Client,
    signer: &Signer,
    url: &str,
    id: &str,
    body: &str,
) -> Outcome {
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signer.sign(id, timestamp, body))
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        Ok(r) if r.status() == reqwest::StatusCode::GONE => Outcome::Gone,
        Ok(r) if r.status().is_redirection() => Outcome::Failed(format!(
            "HTTP {} (redirects are not followed: configure the final URL)",
            r.status().as_u16()
        )),
        Ok(r) => Outcome::Failed(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Outcome::Failed("no answer in time".into()),
        Err(e) => Outcome::Failed(e.without_url().to_string()),
    }
}
