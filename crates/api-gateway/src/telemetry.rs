//! Structured logs to stdout (`tracing`, text or JSON) and a request id on every request.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::io::IsTerminal as _;

use tracing::Instrument as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::TelemetrySettings;

/// Installs the global subscriber once; `RUST_LOG` (`target=level` list) overrides the level.
/// A plain target filter rather than `EnvFilter`: per-request spans are on the hot path.
pub fn init(settings: &TelemetrySettings) {
    let default = if settings.debug { "debug" } else { "info" };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().unwrap_or_default());
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if settings.json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init()
    } else {
        let ansi = std::io::stdout().is_terminal();
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .try_init()
    };
}

/// Header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Reuses a sane incoming id (e.g. nginx's `$request_id`), else makes one (32 hex characters).
fn request_id(req: &ServiceRequest) -> (HeaderValue, bool) {
    let incoming = req.headers().get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
    });
    match incoming {
        Some(id) => (id.clone(), false),
        None => {
            let id = uuid::Uuid::new_v4();
            let mut buf = uuid::Uuid::encode_buffer();
            let text = id.simple().encode_lower(&mut buf);
            (
                HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-")),
                true,
            )
        }
    }
}

/// Middleware: every request gets an id, echoed in `X-Request-Id`, and is counted in the metrics. A generated id is also set on
/// the request's own headers, so handlers (and the recorder, through the proxy) see one id.
///
/// Failures (5xx) are logged at WARN with `request_id`, method, path and cause. With debug logging
/// on, each request also runs inside a `request` span carrying its id. (A span per request at INFO
/// costs ~15% of the token endpoint's throughput, so it is not on by default.)
pub async fn trace_request(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (id, generated) = request_id(&req);
    if generated {
        req.headers_mut().insert(REQUEST_ID, id.clone());
    }
    let span = tracing::debug_span!("request", id = id.to_str().unwrap_or("-"));
    let method = req.method().clone();
    let uri = req.uri().clone();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::startup::AppState>>()
        .map(|s| std::sync::Arc::clone(&s.metrics));
    let started = std::time::Instant::now();
    let mut response = next.call(req).instrument(span).await?;
    let status = response.status();
    if let Some(metrics) = metrics {
        metrics.observe(
            uri.path(),
            &method,
            status.as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    let request_id = id.to_str().unwrap_or("-");
    if status.is_server_error() {
        let cause = response.response().error().map(ToString::to_string);
        tracing::warn!(request_id, %method, path = uri.path(), status = status.as_u16(), cause, "request failed");
    } else {
        tracing::debug!(request_id, %method, path = uri.path(), status = status.as_u16(), "request done");
    }
    response.headers_mut().insert(REQUEST_ID, id);
    Ok(response)
}
