//! The gateway's Prometheus metrics, served at `/metrics` (OpenMetrics text; not under `/api`, so
//! nginx never exposes it): requests by route, method and status with latency histograms, and
//! tokens issued by role and version.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agora_token::{Role, Version};
use memharbor_shared::http_metrics::HttpMetrics;
use memharbor_shared::per_thread::PerThread;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

#[derive(Debug, EncodeLabelSet)]
struct TokenLabels {
    role: &'static str,
    version: &'static str,
}

const ROLES: [Role; 2] = [Role::Publisher, Role::Subscriber];
const VERSIONS: [Version; 2] = [Version::V006, Version::V007];

/// Tokens issued by one thread, by (role, version): a shared counter would make the two workers
/// fight over one cache line on every token.
type TokenCounts = [[AtomicU64; VERSIONS.len()]; ROLES.len()];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    tokens: Arc<PerThread<TokenCounts>>,
}

/// The route a path belongs to, as a fixed label (unknown paths share one, so clients cannot blow
/// up the metrics' cardinality).
pub fn route_of(path: &str) -> &'static str {
    match path {
        "/api/token" => "/api/token",
        "/api/health" => "/api/health",
        "/api/openapi.json" => "/api/openapi.json",
        "/api/recording/start" => "/api/recording/start",
        "/api/recording/stop" => "/api/recording/stop",
        "/api/recording/status" => "/api/recording/status",
        "/api/recording/list" => "/api/recording/list",
        "/internal/bot-token" => "/internal/bot-token",
        "/metrics" => "/metrics",
        p if p.starts_with("/api/recording/files/") => "/api/recording/files/{filename}",
        p if p.starts_with("/api/recording/") => "/api/recording/{sid}",
        _ => "(unknown)",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, "memharbor_gateway");
        let tokens = Arc::new(PerThread::default());
        registry.register_collector(Box::new(TokensIssued(Arc::clone(&tokens))));
        Self {
            registry,
            http,
            tokens,
        }
    }
}

impl Metrics {
    /// Counts and times one answered request; `route` comes from [`route_of`].
    pub fn observe(&self, route: &'static str, method: &str, status: u16, seconds: f64) {
        self.http.observe(route, method, status, seconds);
    }

    pub fn token_issued(&self, role: Role, version: Version) {
        self.tokens.get()[role_index(role)][version_index(version)].fetch_add(1, Ordering::Relaxed);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Publisher => 0,
        Role::Subscriber => 1,
    }
}

fn version_index(version: Version) -> usize {
    match version {
        Version::V006 => 0,
        Version::V007 => 1,
    }
}

/// `memharbor_gateway_tokens_issued_total{role,version}`: every thread's tallies summed at scrape;
/// all four series show, as 0 before the first token.
#[derive(Debug)]
struct TokensIssued(Arc<PerThread<TokenCounts>>);

impl Collector for TokensIssued {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let threads = self.0.all();
        let mut family = encoder.encode_descriptor(
            "memharbor_gateway_tokens_issued",
            "Agora tokens issued, by role and token version.",
            None,
            MetricType::Counter,
        )?;
        for role in ROLES {
            for version in VERSIONS {
                let n: u64 = threads
                    .iter()
                    .map(|t| t[role_index(role)][version_index(version)].load(Ordering::Relaxed))
                    .sum();
                let labels = TokenLabels {
                    role: role.as_str(),
                    version: version.prefix(),
                };
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        Ok(())
    }
}
