//! The recorder's HTTP routes: the internal API the gateway calls (`/internal/*`, behind the
//! internal key) and the ops endpoints (`/livez`, `/readyz`, `/status`).

mod auth;
mod ops;
mod recordings;
mod sessions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpResponse, ResponseError as _};

pub use auth::require_internal_key;

use crate::browser::BrowserPool;
use crate::error::RecorderError;
use crate::session::Sessions;
use crate::storage::{Catalog, RecordIndex};

/// What the recorder's handlers share.
#[derive(Debug)]
pub struct RecorderState {
    pub sessions: Sessions,
    pub index: Arc<RecordIndex>,
    pub catalog: Catalog,
    pub pool: BrowserPool,
    pub recordings_dir: PathBuf,
    /// Derived from `MEMHARBOR_SECRET_KEY`; the gateway sends it.
    pub internal_key: String,
    /// Whether `/internal/sessions/{sid}/drill/*` (crash a tab, kill a browser) is on.
    pub drills: bool,
    pub max_sessions: usize,
    pub started: Instant,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Middleware: every request is counted and timed in the metrics.
pub async fn track_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<RecorderState>>()
        .map(|s| Arc::clone(&s.metrics));
    let path = req.path().to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe(
            &path,
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

async fn allow_get() -> HttpResponse {
    RecorderError::MethodNotAllowed { allow: "GET" }.error_response()
}

async fn allow_post() -> HttpResponse {
    RecorderError::MethodNotAllowed { allow: "POST" }.error_response()
}

async fn allow_get_post() -> HttpResponse {
    RecorderError::MethodNotAllowed { allow: "GET, POST" }.error_response()
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/internal/ping")
            .route(web::get().to(ops::ping))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/internal/sessions/stop")
            .route(web::post().to(sessions::stop))
            .default_service(web::to(allow_post)),
    )
    .service(
        web::resource("/internal/sessions")
            .route(web::post().to(sessions::start))
            .route(web::get().to(sessions::status))
            .default_service(web::to(allow_get_post)),
    )
    .service(
        web::resource("/internal/sessions/{sid}/drill/{kind}")
            .route(web::post().to(sessions::drill))
            .default_service(web::to(allow_post)),
    )
    .service(
        web::resource("/internal/sessions/{sid}")
            .route(web::get().to(sessions::one))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/internal/recordings")
            .route(web::get().to(recordings::list))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/internal/files/{filename}")
            .route(web::get().to(recordings::file))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/livez")
            .route(web::get().to(ops::livez))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(ops::readyz))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/status")
            .route(web::get().to(ops::status))
            .default_service(web::to(allow_get)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(web::to(allow_get)),
    )
    .default_service(web::to(not_found));
}
