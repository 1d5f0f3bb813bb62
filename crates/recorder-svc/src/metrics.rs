//! The recorder's Prometheus metrics, served at `/metrics` (OpenMetrics text). Counters are
//! incremented where things happen (sessions, audio, uploads, browsers); gauges are read from the
//! service's state when scraped.

use memharbor_shared::http_metrics::HttpMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    stop_reason: &'static str,
}

/// Counters the audio threads add to.
#[derive(Debug, Clone, Default)]
pub struct AudioCounters {
    pub late: Counter,
    /// 48 kHz frames the page's capture worker mixed as silence because a track's audio was late.
    pub late_frames: Counter,
    pub missing: Counter,
    pub malformed: Counter,
    /// Writes of audio that failed (disk full, I/O errors).
    pub write_errors: Counter,
}

/// Counters the browser pool adds to.
#[derive(Debug, Clone, Default)]
pub struct BrowserCounters {
    pub launched: Counter,
    pub deaths: Counter,
    pub tab_crashes: Counter,
    /// DevTools messages (and their bytes) Chromium sent the recorder.
    pub cdp_messages: Counter,
    pub cdp_bytes: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

/// Counters the cluster's heartbeat and claims add to (cluster mode only).
#[derive(Debug, Clone)]
pub struct ClusterCounters {
    /// Live recorders, as the last heartbeat read them.
    pub recorders: Gauge,
    claims: Family<OutcomeLabels, Counter>,
    pub lease_losses: Counter,
    directory_errors: Family<OpLabels, Counter>,
    /// Documents read and written in the directory since start (what Firestore bills).
    directory_documents: Family<OpLabels, Gauge>,
    takeovers: Family<KindLabels, Counter>,
    /// Silence between segments of assembled recordings (a failover's gap), in seconds.
    pub segment_gaps: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

impl Default for ClusterCounters {
    fn default() -> Self {
        Self {
            recorders: Gauge::default(),
            claims: Family::default(),
            lease_losses: Counter::default(),
            directory_errors: Family::default(),
            directory_documents: Family::default(),
            takeovers: Family::default(),
            segment_gaps: Histogram::new([0.05, 0.5, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 90.0]),
        }
    }
}

impl ClusterCounters {
    /// A claim's outcome: granted, existing (a conflict: another session has the channel),
    /// orphaned, unavailable.
    pub fn claim(&self, outcome: &'static str) {
        self.claims.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// A session continued here: `failover` (its recorder went silent) or `handover`.
    pub fn takeover(&self, kind: &'static str) {
        self.takeovers.get_or_create(&KindLabels { kind }).inc();
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
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    starts: Family<OutcomeLabels, Counter>,
    stops: Family<ReasonLabels, Counter>,
    pub sessions_active: Gauge,
    pub audio: AudioCounters,
    pub browsers: BrowserCounters,
    pub upload_queue_depth: Gauge,
    pub upload_failures: Counter,
    /// Free bytes on the recordings' filesystem (read at scrape).
    pub disk_free_bytes: Gauge,
    /// Recordings whose stop failed and which were repaired in the background.
    pub repairs: Counter,
    pub cluster: ClusterCounters,
    pub webhooks: crate::webhooks::WebhookCounters,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let http = HttpMetrics::register(&mut r, "memharbor_recorder");
        let starts = Family::<OutcomeLabels, Counter>::default();
        let stops = Family::<ReasonLabels, Counter>::default();
        let m = Self {
            registry: Registry::default(),
            http,
            starts: starts.clone(),
            stops: stops.clone(),
            sessions_active: Gauge::default(),
            audio: AudioCounters::default(),
            browsers: BrowserCounters::default(),
            upload_queue_depth: Gauge::default(),
            upload_failures: Counter::default(),
            disk_free_bytes: Gauge::default(),
            repairs: Counter::default(),
            cluster: ClusterCounters::default(),
            webhooks: crate::webhooks::WebhookCounters::default(),
        };
        r.register(
            "memharbor_recorder_sessions_active",
            "Sessions starting or recording now",
            m.sessions_active.clone(),
        );
        r.register(
            "memharbor_recorder_session_starts",
            "Session starts, by outcome (ok, failed)",
            starts,
        );
        r.register(
            "memharbor_recorder_session_stops",
            "Sessions ended, by stopReason",
            stops,
        );
        r.register(
            "memharbor_recorder_audio_chunks_late",
            "Audio chunks that arrived after the timeline had passed them",
            m.audio.late.clone(),
        );
        r.register(
            "memharbor_recorder_audio_late_frames",
            "48 kHz frames of silence played while a track's audio was later than its cushion",
            m.audio.late_frames.clone(),
        );
        r.register(
            "memharbor_recorder_audio_chunks_missing",
            "Audio chunks that never arrived (sequence gaps)",
            m.audio.missing.clone(),
        );
        r.register(
            "memharbor_recorder_audio_chunks_malformed",
            "Audio messages that were not chunks",
            m.audio.malformed.clone(),
        );
        r.register(
            "memharbor_recorder_audio_write_errors",
            "Audio writes that failed (disk full, I/O errors); each ends its session, which is repaired",
            m.audio.write_errors.clone(),
        );
        r.register(
            "memharbor_recorder_disk_free_bytes",
            "Free bytes on the filesystem of RECORDER_RECORDINGS_DIR",
            m.disk_free_bytes.clone(),
        );
        r.register(
            "memharbor_recorder_repairs",
            "Recordings whose stop failed (finish or save) and were repaired in the background",
            m.repairs.clone(),
        );
        r.register(
            "memharbor_recorder_upload_queue_depth",
            "Upload jobs not finished (pending, uploading or refused)",
            m.upload_queue_depth.clone(),
        );
        r.register(
            "memharbor_recorder_upload_failures",
            "Failed upload attempts (each is retried)",
            m.upload_failures.clone(),
        );
        r.register(
            "memharbor_recorder_browsers_launched",
            "Chromium processes started",
            m.browsers.launched.clone(),
        );
        r.register(
            "memharbor_recorder_browser_restarts",
            "Chromium processes that died and were replaced",
            m.browsers.deaths.clone(),
        );
        r.register(
            "memharbor_recorder_cdp_messages",
            "DevTools messages Chromium sent the recorder (answers and events)",
            m.browsers.cdp_messages.clone(),
        );
        r.register(
            "memharbor_recorder_cdp_bytes",
            "Bytes of DevTools messages Chromium sent the recorder",
            m.browsers.cdp_bytes.clone(),
        );
        r.register(
            "memharbor_recorder_tab_crashes",
            "Recording tabs whose renderer crashed",
            m.browsers.tab_crashes.clone(),
        );
        r.register(
            "memharbor_cluster_recorders",
            "Live recorders in the cluster, as this recorder's last heartbeat read them",
            m.cluster.recorders.clone(),
        );
        r.register(
            "memharbor_cluster_claims",
            "Channel claims, by outcome (granted; existing = a conflict, another session has the channel; orphaned; unavailable)",
            m.cluster.claims.clone(),
        );
        r.register(
            "memharbor_cluster_lease_losses",
            "Sessions that found their channel claimed by another session after a gap, and ended their segment",
            m.cluster.lease_losses.clone(),
        );
        r.register(
            "memharbor_cluster_takeovers",
            "Sessions this recorder continued under the same sid, by kind (failover: their recorder went silent; handover: it was draining)",
            m.cluster.takeovers.clone(),
        );
        r.register(
            "memharbor_cluster_segment_gap_seconds",
            "Silence between the segments of recordings this recorder assembled (a failover's gap; 0 for a hand-over)",
            m.cluster.segment_gaps.clone(),
        );
        r.register(
            "memharbor_cluster_directory_errors",
            "Failed calls to the cluster's directory (Firestore), by operation",
            m.cluster.directory_errors.clone(),
        );
        r.register(
            "memharbor_cluster_directory_documents",
            "Documents this recorder has read and written in the directory (Firestore) since it started, by op (read, write)",
            m.cluster.directory_documents.clone(),
        );
        r.register(
            "memharbor_webhook_deliveries",
            "Webhook delivery attempts, by endpoint (a hash of its URL, as in /status), event type and outcome (delivered, failed, gone, dead = given up)",
            m.webhooks.deliveries.clone(),
        );
        Self { registry: r, ..m }
    }
}

impl Metrics {
    /// Counts and times one answered request; `route` is the matched pattern.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http.observe(route, method, status, seconds);
    }

    pub fn session_started(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.starts.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn session_stopped(&self, stop_reason: &'static str) {
        self.stops
            .get_or_create(&ReasonLabels { stop_reason })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
