//! Webhooks, as Standard Webhooks defines them: the app's backend hears every recording event
//! (`recording.started`, `participant_joined` / `participant_left`, `stopped`, `uploaded`,
//! `failed`), signed, in order per session, at least once. An event is written to disk before
//! the change it reports is acknowledged (`outbox`), then delivered to each endpoint with retries
//! on a schedule of more than a day (`MEMHARBOR_WEBHOOK_RETRY_S`), across restarts and kill -9;
//! a 410 Gone disables the endpoint until `POST /internal/webhooks/enable`. `event` is what an
//! event is, `delivery` one signed POST.

mod delivery;
mod event;
mod outbox;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

pub use event::EventType;
use outbox::{Outbox, Pending};

/// Sessions whose events one endpoint is sent at once.
const PARALLEL: usize = 8;

/// `MEMHARBOR_WEBHOOK_*`.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub urls: Vec<String>,
    /// `whsec_…`; several while a secret is rotated (each delivery is signed with each).
    pub secrets: Vec<SecretString>,
    /// Waits after each failed attempt; the event is given up after the last.
    pub retry: Vec<Duration>,
    pub timeout: Duration,
}

/// The default schedule (Standard Webhooks' reference implementation's): attempts at once, then
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later — 27 h 35 min in all.
pub const DEFAULT_RETRY_S: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// Delivery counts for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct WebhookCounters {
    pub deliveries: Family<DeliveryLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    endpoint: String,
    /// The event type (`recording.stopped`, …).
    event: String,
    outcome: &'static str,
}

/// An endpoint's folder name and label: a short hash of its URL (which may hold a token).
fn key_of(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL as `/status` shows it: scheme, host, port and path — never a query or credentials.
fn shown(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or_default();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub struct Webhooks {
    urls: Vec<String>,
    keys: Vec<String>,
    signer: delivery::Signer,
    retry: Vec<Duration>,
    client: reqwest::Client,
    outbox: Mutex<Outbox>,
    wake: Vec<Notify>,
    counters: WebhookCounters,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("endpoints", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Loads the outbox under `dir` and starts one delivery loop per endpoint.
    pub fn start(
        settings: &WebhookSettings,
        dir: &std::path::Path,
        counters: WebhookCounters,
    ) -> std::io::Result<Arc<Self>> {
        let keys: Vec<String> = settings.urls.iter().map(|u| key_of(u)).collect();
        let signer = delivery::Signer::new(&settings.secrets)
            .map_err(|e| std::io::Error::other(format!("MEMHARBOR_WEBHOOK_SECRET {e}")))?;
        let outbox = Outbox::load(dir, keys.clone())?;
        let webhooks = Arc::new(Self {
            urls: settings.urls.clone(),
            wake: keys.iter().map(|_| Notify::new()).collect(),
            keys,
            signer,
            retry: settings.retry.clone(),
            client: delivery::client(settings.timeout).map_err(std::io::Error::other)?,
            outbox: Mutex::new(outbox),
            counters,
        });
        for endpoint in 0..webhooks.urls.len() {
            tokio::spawn(Arc::clone(&webhooks).deliver(endpoint));
        }
        Ok(webhooks)
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the event for every endpoint (blocking: files are synced) and wakes the loops.
    fn emit(&self, sid: Uuid, kind: EventType, data: Value) -> std::io::Result<()> {
        let once = kind.once_key(&data);
        let at = OffsetDateTime::now_utc();
        let added = self
            .outbox()
            .add(sid, kind.name(), once.as_deref(), now_ms(), |seq| {
                (
                    event::message_id(sid, seq, once.as_deref()),
                    event::body(kind, sid, seq, data, at),
                )
            })?;
        if added.is_some() {
            for wake in &self.wake {
                wake.notify_one();
            }
        }
        Ok(())
    }

    /// One endpoint's loop: each session's oldest due event, a few sessions at a time.
    async fn deliver(self: Arc<Self>, endpoint: usize) {
        loop {
            let (due, next) = self.outbox().due(endpoint, now_ms(), PARALLEL);
            if due.is_empty() {
                let wait = next.map_or(Duration::from_secs(3600), |at| {
                    Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.wake[endpoint].notified() => {}
                }
                continue;
            }
            let url = &self.urls[endpoint];
            let outcomes = futures_util::future::join_all(
                due.iter()
                    .map(|p| delivery::send(&self.client, &self.signer, url, &p.id, &p.body)),
            )
            .await;
            // Settling writes files (synced): off the async threads.
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || {
                for (p, outcome) in due.iter().zip(outcomes) {
                    this.settle(endpoint, p, outcome);
                }
            })
            .await;
        }
    }

    fn settle(&self, endpoint: usize, p: &Pending, outcome: delivery::Outcome) {
        let label = |outcome| DeliveryLabels {
            endpoint: self.keys[endpoint].clone(),
            event: p.kind.clone(),
            outcome,
        };
        let mut outbox = self.outbox();
        match outcome {
            delivery::Outcome::Delivered => {
                outbox.delivered(endpoint, p, now_ms());
                self.counters
                    .deliveries
                    .get_or_create(&label("delivered"))
                    .inc();
            }
            delivery::Outcome::Gone => {
                tracing::warn!(
                    endpoint = self.keys[endpoint],
                    "webhook endpoint answered 410 Gone: disabled until re-enabled (POST /internal/webhooks/enable)"
                );
                outbox.gone(endpoint, p, "the endpoint answered 410 Gone".into());
                self.counters.deliveries.get_or_create(&label("gone")).inc();
            }
            delivery::Outcome::Failed(error) => {
                let wait = self
                    .retry
                    .get(p.attempts as usize)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                if wait.is_none() {
                    tracing::error!(
                        endpoint = self.keys[endpoint],
                        id = p.id,
                        error,
                        "webhook event given up after its last attempt (kept in dead/)"
                    );
                    self.counters.deliveries.get_or_create(&label("dead")).inc();
                } else {
                    self.counters
                        .deliveries
                        .get_or_create(&label("failed"))
                        .inc();
                }
                outbox.failed(endpoint, p, error, now_ms(), wait);
            }
        }
    }

    /// Re-enables `endpoint` (its key), or every disabled one; how many were disabled.
    pub fn enable(&self, endpoint: Option<&str>) -> usize {
        let mut outbox = self.outbox();
        let mut enabled = 0;
        for (i, key) in self.keys.iter().enumerate() {
            if endpoint.is_none_or(|e| e == key) && outbox.enable(i) {
                enabled += 1;
                self.wake[i].notify_one();
            }
        }
        enabled
    }

    pub fn knows(&self, endpoint: &str) -> bool {
        self.keys.iter().any(|k| k == endpoint)
    }

    /// `/status`'s `webhooks` section: each endpoint's queue.
    pub fn status(&self) -> Value {
        let outbox = self.outbox();
        let now = now_ms();
        let endpoints: Vec<Value> = outbox
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                json!({
                    "endpoint": self.keys[i],
                    "url": shown(&self.urls[i]),
                    "disabled": q.disabled.is_some(),
                    "disabledReason": q.disabled,
                    "pending": q.pending(),
                    "sessions": q.by_session.len(),
                    "oldestPendingAgeS": q.oldest_ms().map(|at| (now - at).max(0) / 1000),
                    "delivered": q.delivered,
                    "failedAttempts": q.failed,
                    "givenUp": q.dead,
                    "lastError": q.last_error,
                })
            })
            .collect();
        json!({ "endpoints": endpoints })
    }
}

/// Where the recorder's events go: nowhere when no webhook is configured.
#[derive(Debug, Clone, Default)]
pub struct Events(Option<Arc<Webhooks>>);

/// Event numbers each recorder of a continued session may use: the `k`-th segment's events are
/// numbered from `(k - 1) × 1,000,000`, so `seq` keeps growing across recorders.
pub const SEQ_PER_SEGMENT: u64 = 1_000_000;

impl Events {
    pub fn new(webhooks: Option<Arc<Webhooks>>) -> Self {
        Self(webhooks)
    }

    pub fn webhooks(&self) -> Option<&Arc<Webhooks>> {
        self.0.as_ref()
    }

    /// Records the event on disk (from blocking code). A write that fails is logged: the
    /// recording itself goes on.
    pub fn emit_blocking(&self, sid: Uuid, kind: EventType, data: Value) {
        if let Some(webhooks) = &self.0
            && let Err(e) = webhooks.emit(sid, kind, data)
        {
            tracing::error!(%sid, event = kind.name(), error = %e, "cannot write a webhook event");
        }
    }

    /// A session continued here under claim number `fencing`: its events here are numbered after
    /// those of its earlier recorders (each recorder counts a session's events on its own).
    pub fn continue_numbering(&self, sid: Uuid, fencing: u64) {
        if let Some(webhooks) = &self.0 {
            webhooks
                .outbox()
                .number_from(sid, fencing.saturating_sub(1) * SEQ_PER_SEGMENT);
        }
    }

    /// Records the event on disk before returning (from async code).
    pub async fn emit(&self, sid: Uuid, kind: EventType, data: Value) {
        if self.0.is_none() {
            return;
        }
        let events = self.clone();
        let _ = tokio::task::spawn_blocking(move || events.emit_blocking(sid, kind, data)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn status_never_shows_a_query_or_credentials() {
        assert_eq!(
            shown("https://user:pw@hooks.example.com:8443/in?token=abc#x"),
            "https://hooks.example.com:8443/in"
        );
        assert_eq!(shown("http://127.0.0.1:9/hook"), "http://127.0.0.1:9/hook");
        assert_eq!(shown("https://example.com"), "https://example.com");
    }
}
