//! How both services count their HTTP requests, so one dashboard query fits either:
//! `{prefix}_http_requests_total{route,method,status}` and
//! `{prefix}_http_request_duration_seconds{route}`. Routes are the patterns the router matched
//! (`/api/recording/{sid}`), or `(unknown)`: never the raw path, so clients cannot blow up the
//! cardinality.
//!
//! Every request passes through here, so counting must not make the worker threads contend:
//! each thread counts into its own shard (`thread_local::ThreadLocal`: a lock only it and the
//! scraper take) and a scrape sums the shards. prometheus-client's `Family`/`Histogram` took a
//! shared read lock, a shared counter and a shared mutex per request: about 0.5 µs of the token
//! route's ~10 µs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use thread_local::ThreadLocal;

/// The route label of a request no route matched.
pub const UNKNOWN_ROUTE: &str = "(unknown)";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Latency buckets: 0.1 ms doubling to about 52 s (a stop may wait 30 s for its upload).
const BUCKET_START_S: f64 = 0.0001;
const BUCKETS: usize = 20;

/// Upper bounds of the finite buckets.
fn bounds() -> [f64; BUCKETS] {
    std::array::from_fn(|i| BUCKET_START_S * f64::from(1u32 << i))
}

/// One route's latencies: per-bucket (not cumulative) counts, the last one past every bound.
#[derive(Clone, Debug, Default)]
struct Latency {
    buckets: [u64; BUCKETS + 1],
    sum: f64,
    count: u64,
}

impl Latency {
    fn add(&mut self, other: &Latency) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// What one thread has counted. Few routes, methods and statuses occur, so linear search over
/// small vectors beats hashing.
#[derive(Debug, Default)]
struct Counts {
    /// (route, method, status) → count.
    requests: Vec<((String, &'static str, u16), u64)>,
    latency: Vec<(String, Latency)>,
}

#[derive(Debug, Default)]
struct Shard {
    counts: Mutex<Counts>,
}

#[derive(Debug)]
struct Inner {
    prefix: String,
    bounds: [f64; BUCKETS],
    shards: ThreadLocal<Shard>,
}

/// The request counter and latency histogram of one service.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    inner: Arc<Inner>,
}

impl HttpMetrics {
    /// Registers the two families under `prefix` (e.g. `memharbor_gateway`).
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let inner = Arc::new(Inner {
            prefix: prefix.to_owned(),
            bounds: bounds(),
            shards: ThreadLocal::new(),
        });
        registry.register_collector(Box::new(Collected(Arc::clone(&inner))));
        Self { inner }
    }

    /// Counts and times one answered request; `route` is the matched pattern, or
    /// [`UNKNOWN_ROUTE`].
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let bucket = self
            .inner
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS);
        let shard = self.inner.shards.get_or_default();
        let mut counts = shard.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let found = counts
            .requests
            .iter_mut()
            .find(|((r, m, s), _)| r == route && *m == method && *s == status);
        match found {
            Some((_, n)) => *n += 1,
            None => counts
                .requests
                .push(((route.to_owned(), method, status), 1)),
        }
        let latency = match counts.latency.iter().position(|(r, _)| r == route) {
            Some(i) => &mut counts.latency[i].1,
            None => {
                counts.latency.push((route.to_owned(), Latency::default()));
                &mut counts.latency.last_mut().expect("just pushed").1
            }
        };
        latency.buckets[bucket] += 1;
        latency.sum += seconds;
        latency.count += 1;
    }
}

/// The scrape side: sums every thread's shard.
#[derive(Debug)]
struct Collected(Arc<Inner>);

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.0;
        let mut requests = BTreeMap::<(String, &str, u16), u64>::new();
        let mut latency = BTreeMap::<String, Latency>::new();
        for shard in inner.shards.iter() {
            let counts = shard.counts.lock().unwrap_or_else(PoisonError::into_inner);
            for ((route, method, status), n) in &counts.requests {
                *requests
                    .entry((route.clone(), *method, *status))
                    .or_default() += n;
            }
            for (route, l) in &counts.latency {
                latency.entry(route.clone()).or_default().add(l);
            }
        }

        let name = format!("{}_http_requests", inner.prefix);
        let mut family = encoder.encode_descriptor(
            &name,
            "HTTP requests answered, by route, method and status",
            None,
            MetricType::Counter,
        )?;
        for ((route, method, status), n) in &requests {
            let labels = RequestLabels {
                route: route.clone(),
                method,
                status: *status,
            };
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }

        let name = format!("{}_http_request_duration_seconds", inner.prefix);
        let mut family = encoder.encode_descriptor(
            &name,
            "Time to answer an HTTP request, by route",
            None,
            MetricType::Histogram,
        )?;
        for (route, l) in &latency {
            let buckets: Vec<(f64, u64)> = inner
                .bounds
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(l.buckets)
                .collect();
            family
                .encode_family(&RouteLabels {
                    route: route.clone(),
                })?
                .encode_histogram::<NoLabelSet>(l.sum, l.count, &buckets, None)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn counts_from_several_threads_add_up_in_one_scrape() {
        let mut registry = Registry::default();
        let metrics = HttpMetrics::register(&mut registry, "t");
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..100 {
                        metrics.observe("/a", "POST", 200, 0.00015);
                    }
                    metrics.observe("/a", "BREW", 418, 100.0);
                });
            }
        });
        let text = scrape(&registry);
        assert!(
            text.contains(
                "t_http_requests_total{route=\"/a\",method=\"POST\",status=\"200\"} 300\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "t_http_requests_total{route=\"/a\",method=\"OTHER\",status=\"418\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("t_http_request_duration_seconds_count{route=\"/a\"} 303\n"),
            "{text}"
        );
        // 0.15 ms falls in the 0.2 ms bucket; cumulative from there; 100 s only in +Inf.
        assert!(
            text.contains("t_http_request_duration_seconds_bucket{le=\"0.0001\",route=\"/a\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "t_http_request_duration_seconds_bucket{le=\"0.0002\",route=\"/a\"} 300\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("t_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/a\"} 303\n"),
            "{text}"
        );
    }

    #[test]
    fn two_sets_of_metrics_in_one_thread_stay_apart() {
        let (mut r1, mut r2) = (Registry::default(), Registry::default());
        let (m1, m2) = (
            HttpMetrics::register(&mut r1, "one"),
            HttpMetrics::register(&mut r2, "two"),
        );
        m1.observe("/x", "GET", 200, 0.001);
        m2.observe("/y", "GET", 404, 0.001);
        m2.observe("/y", "GET", 404, 0.001);
        let (t1, t2) = (scrape(&r1), scrape(&r2));
        assert!(
            t1.contains("one_http_requests_total{route=\"/x\",method=\"GET\",status=\"200\"} 1\n"),
            "{t1}"
        );
        assert!(!t1.contains("/y"), "{t1}");
        assert!(
            t2.contains("two_http_requests_total{route=\"/y\",method=\"GET\",status=\"404\"} 2\n"),
            "{t2}"
        );
    }
}
