//! The recorder's HTTP routes: the internal API the gateway calls (`/internal/*`, behind the
//! internal key) and the ops endpoints (`/livez`, `/readyz`, `/status`).

mod auth;
mod ops;
mod recordings;
mod segments;
mod sessions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, ResponseError as _};

pub use auth::require_internal_key;

use crate::browser::BrowserPool;
use crate::error::RecorderError;
use crate::session::Sessions;
use crate::storage::Store;

/// What the recorder's handlers share.
#[derive(Debug)]
pub struct RecorderState {
    pub sessions: Sessions,
    /// The recordings (the same as the sessions').
    pub store: Store,
    pub pool: BrowserPool,
    pub recordings_dir: PathBuf,
    /// Derived from `MEMHARBOR_SECRET_KEY`; the gateway sends it.
    pub internal_key: String,
    /// Whether `/internal/sessions/{sid}/drill/*` (crash a tab, kill a browser) is on.
    pub drills: bool,
    pub max_sessions: usize,
    pub started: Instant,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Cluster mode: this recorder's membership.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Middleware: every request is counted and timed in the metrics.
pub async fn track_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<RecorderState>>()
        .map(|s| Arc::clone(&s.metrics));
    // The pattern the router matches (`/internal/sessions/{sid}`): the route label.
    let route = req
        .resource_map()
        .match_pattern(req.match_info().as_str())
        .unwrap_or_else(|| memharbor_shared::http_metrics::UNKNOWN_ROUTE.to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe(
            &route,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

async fn not_found() -> HttpResponse {
    RecorderError::RouteNotFound.error_response()
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    RecorderError::MethodNotAllowed { allow }.error_response()
}

/// `path` answering `method` with `handler`; any other method gets 405 with `Allow`.
fn resource<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allow = if method == Method::POST {
        "POST"
    } else {
        "GET"
    };
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || method_not_allowed(allow)))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/internal/ping", Method::GET, ops::ping))
        .service(resource("/internal/drain", Method::POST, ops::drain))
        .service(resource(
            "/internal/webhooks/enable",
            Method::POST,
            ops::enable_webhooks,
        ))
        .service(resource(
            "/internal/sessions/stop",
            Method::POST,
            sessions::stop,
        ))
        .service(
            web::resource("/internal/sessions")
                .route(web::post().to(sessions::start))
                .route(web::get().to(sessions::status))
                .default_service(web::to(|| method_not_allowed("GET, POST"))),
        )
        .service(resource(
            "/internal/sessions/{sid}/drill/{kind}",
            Method::POST,
            sessions::drill,
        ))
        .service(resource(
            "/internal/sessions/{sid}",
            Method::GET,
            sessions::one,
        ))
        .service(resource(
            "/internal/recordings",
            Method::GET,
            recordings::list,
        ))
        .service(resource(
            "/internal/files/{filename}",
            Method::GET,
            recordings::file,
        ))
        .service(resource(
            "/internal/handover",
            Method::POST,
            segments::handover,
        ))
        .service(
            web::resource("/internal/segments/{sid}/{fencing}")
                .route(web::get().to(segments::describe))
                .route(web::delete().to(segments::forget))
                .default_service(web::to(|| method_not_allowed("GET, DELETE"))),
        )
        .service(resource(
            "/internal/segments/{sid}/{fencing}/fetch",
            Method::POST,
            segments::fetch,
        ))
        .service(resource(
            "/internal/segments/{sid}/{fencing}/{file}",
            Method::GET,
            segments::file,
        ))
        .service(resource("/livez", Method::GET, ops::livez))
        .service(resource("/readyz", Method::GET, ops::readyz))
        .service(resource("/status", Method::GET, ops::status))
        .service(resource("/metrics", Method::GET, ops::metrics))
        .default_service(web::to(not_found));
}
