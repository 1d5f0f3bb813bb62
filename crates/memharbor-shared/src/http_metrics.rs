//! How both services count their HTTP requests, so one dashboard query fits either:
//! `{prefix}_http_requests_total{route,method,status}` and
//! `{prefix}_http_request_duration_seconds{route}`. Routes are fixed labels chosen by each
//! service (never the raw path: clients must not be able to blow up the cardinality).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// Latency buckets: 0.1 ms doubling to about 52 s (a stop may wait 30 s for its upload).
const BUCKET_START_S: f64 = 0.0001;
const BUCKETS: u16 = 20;

#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl HttpMetrics {
    /// Registers the two families under `prefix` (e.g. `memharbor_gateway`).
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(BUCKET_START_S, 2.0, BUCKETS))
        });
        registry.register(
            format!("{prefix}_http_requests"),
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            format!("{prefix}_http_request_duration_seconds"),
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        Self { requests, latency }
    }

    /// Counts and times one answered request.
    pub fn observe(&self, route: &'static str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }
}

/// The method as a fixed label; anything unusual shares one.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}
