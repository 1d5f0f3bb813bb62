//! Webhook settings: the endpoints, the secrets deliveries are signed with, the retry schedule.

use std::time::Duration;

use memharbor_shared::settings_source::{err, http_url, number, present};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Raw, SettingsError, WebhookSettings};

/// Webhooks: the endpoints (operator configuration: http(s) only), the secrets they are signed
/// with, the retry schedule and the time an endpoint has to answer.
pub(super) fn webhooks(raw: &Raw) -> Result<Option<WebhookSettings>, SettingsError> {
    let Some(urls) = present(&raw.memharbor_webhook_urls) else {
        return Ok(None);
    };
    let urls = urls
        .split([',', ' '])
        .filter(|u| !u.is_empty())
        .map(|u| {
            http_url(
                "MEMHARBOR_WEBHOOK_URLS",
                Some(u),
                "https://example.com/hooks",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if urls.iter().enumerate().any(|(i, u)| urls[..i].contains(u)) {
        return Err(err("MEMHARBOR_WEBHOOK_URLS", "names an endpoint twice"));
    }
    let secrets: Vec<SecretString> = present(&raw.memharbor_webhook_secret)
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()))
        .collect();
    if secrets.is_empty() {
        return Err(err(
            "MEMHARBOR_WEBHOOK_SECRET",
            "is missing: with MEMHARBOR_WEBHOOK_URLS set, deliveries are signed with it (whsec_ and base64 of 24-64 random bytes; several, comma-separated, while rotating)",
        ));
    }
    for secret in &secrets {
        webhook_secret(secret.expose_secret())?;
    }
    let retry = match present(&raw.memharbor_webhook_retry_s) {
        None => crate::webhooks::DEFAULT_RETRY_S
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect(),
        Some(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=86_400).contains(s))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|l| !l.is_empty() && l.len() <= 50)
            .ok_or_else(|| {
                err(
                    "MEMHARBOR_WEBHOOK_RETRY_S",
                    "must be 1-50 comma-separated waits in seconds (1-86400 each), like 5,300,1800",
                )
            })?
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
    };
    Ok(Some(WebhookSettings {
        urls,
        secrets,
        retry,
        timeout: Duration::from_secs(number(
            "MEMHARBOR_WEBHOOK_TIMEOUT_S",
            present(&raw.memharbor_webhook_timeout_s),
            10u64,
            1,
            60,
        )?),
    }))
}

/// `whsec_` and base64 of 24-64 bytes, as Standard Webhooks' libraries make them.
fn webhook_secret(secret: &str) -> Result<(), SettingsError> {
    use base64::Engine as _;
    let bytes = secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok());
    match bytes {
        Some(b) if (24..=64).contains(&b.len()) => Ok(()),
        _ => Err(err(
            "MEMHARBOR_WEBHOOK_SECRET",
            "must be whsec_ followed by base64 of 24-64 random bytes (e.g. whsec_$(openssl rand -base64 32))",
        )),
    }
}
