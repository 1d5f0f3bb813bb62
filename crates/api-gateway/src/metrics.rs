//! The gateway's Prometheus metrics, served at `/metrics` (OpenMetrics text; not under `/api`, so
//! nginx never exposes it): requests by route, method and status with latency histograms, and
//! tokens issued by role and version.

use agora_token::{Role, Version};
use memharbor_shared::http_metrics::HttpMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    role: &'static str,
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    tokens: Family<TokenLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    /// Cluster mode: live recorders as last read, placements, directory failures.
    pub cluster_recorders: Gauge,
    placements: Family<OutcomeLabels, Counter>,
    directory_errors: Family<OpLabels, Counter>,
    directory_documents: Family<OpLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, "memharbor_gateway");
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "memharbor_gateway_tokens_issued",
            "Agora tokens issued, by role and token version",
            tokens.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "memharbor_gateway_auth_failures",
            "Requests refused for their credentials or their rights, by reason (expired, bad_signature, wrong_audience, forbidden_channel, …)",
            auth_failures.clone(),
        );
        let cluster_recorders = Gauge::default();
        registry.register(
            "memharbor_cluster_recorders",
            "Cluster mode: live recorders, as this gateway last read the directory",
            cluster_recorders.clone(),
        );
        let placements = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "memharbor_cluster_placements",
            "Cluster mode: starts by outcome (placed, existing, skipped_full, capacity_exhausted, orphaned, no_recorder)",
            placements.clone(),
        );
        let directory_errors = Family::<OpLabels, Counter>::default();
        registry.register(
            "memharbor_cluster_directory_errors",
            "Cluster mode: failed reads of the directory (Firestore), by operation",
            directory_errors.clone(),
        );
        let directory_documents = Family::<OpLabels, Gauge>::default();
        registry.register(
            "memharbor_cluster_directory_documents",
            "Cluster mode: documents this gateway has read and written in the directory (Firestore) since it started, by op (read, write)",
            directory_documents.clone(),
        );
        // Every series shows from the start, at 0.
        for role in [Role::Publisher, Role::Subscriber] {
            for version in [Version::V006, Version::V007] {
                let _ = tokens.get_or_create(&labels(role, version));
            }
        }
        Self {
            registry,
            http,
            tokens,
            auth_failures,
            cluster_recorders,
            placements,
            directory_errors,
            directory_documents,
        }
    }
}

fn labels(role: Role, version: Version) -> TokenLabels {
    TokenLabels {
        role: role.as_str(),
        version: version.prefix(),
    }
}

impl Metrics {
    /// Counts and times one answered request; `route` is the matched pattern.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http.observe(route, method, status, seconds);
    }

    /// A request refused for its credentials or rights (no user label: bounded cardinality).
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn placement(&self, outcome: &'static str) {
        self.placements
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn directory_error(&self, op: &'static str) {
        self.directory_errors.get_or_create(&OpLabels { op }).inc();
    }

    /// The directory's usage so far: documents read and written.
    pub fn directory_usage(&self, reads: u64, writes: u64) {
        for (op, n) in [("read", reads), ("write", writes)] {
            self.directory_documents
                .get_or_create(&OpLabels { op })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn token_issued(&self, role: Role, version: Version) {
        self.tokens.get_or_create(&labels(role, version)).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
