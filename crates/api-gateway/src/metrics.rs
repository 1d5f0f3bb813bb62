//! The gateway's Prometheus metrics, served at `/metrics` (OpenMetrics text; not under `/api`, so
//! nginx never exposes it): requests by route, method and status with latency histograms, and
//! tokens issued by role and version.

use memharbor_shared::http_metrics::HttpMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    role: &'static str,
    version: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    tokens: Family<TokenLabels, Counter>,
    /// The four (role, version) series, made at start so issuing a token costs one atomic add,
    /// not a lookup in the family (they also show as 0 before the first token).
    token_series: Vec<(TokenLabels, Counter)>,
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
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "memharbor_gateway_tokens_issued",
            "Agora tokens issued, by role and token version",
            tokens.clone(),
        );
        let token_series = ["publisher", "subscriber"]
            .into_iter()
            .flat_map(|role| ["006", "007"].map(|version| TokenLabels { role, version }))
            .map(|labels| {
                let counter = tokens.get_or_create(&labels).clone();
                (labels, counter)
            })
            .collect();
        Self {
            registry,
            http,
            tokens,
            token_series,
        }
    }
}

impl Metrics {
    /// Counts and times one answered request; `route` comes from [`route_of`].
    pub fn observe(&self, route: &'static str, method: &str, status: u16, seconds: f64) {
        self.http.observe(route, method, status, seconds);
    }

    pub fn token_issued(&self, role: &'static str, version: &'static str) {
        let labels = TokenLabels { role, version };
        match self.token_series.iter().find(|(l, _)| *l == labels) {
            Some((_, counter)) => counter.inc(),
            None => self.tokens.get_or_create(&labels).inc(),
        };
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
