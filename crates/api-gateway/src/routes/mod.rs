//! The public routes, one module per resource, and the JSON 404/405 for everything else.

mod fallback;
mod health;
mod internal;
mod metrics;
mod openapi;
mod recording;
mod token;

use actix_web::web::{self, ServiceConfig};

pub use fallback::not_found;

/// Registers every route. A known path with another method answers 405 with `Allow`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/api/health")
            .route(web::get().to(health::health))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/openapi.json")
            .route(web::get().to(openapi::document))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/token")
            .route(web::post().to(token::issue))
            .default_service(web::to(fallback::allow_post)),
    )
    // Fixed paths before `/api/recording/{sid}`.
    .service(
        web::resource("/api/recording/start")
            .route(web::post().to(recording::start))
            .default_service(web::to(fallback::allow_post)),
    )
    .service(
        web::resource("/api/recording/stop")
            .route(web::post().to(recording::stop))
            .default_service(web::to(fallback::allow_post)),
    )
    .service(
        web::resource("/api/recording/status")
            .route(web::get().to(recording::status))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/recording/list")
            .route(web::get().to(recording::list))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/recording/files/{filename}")
            .route(web::get().to(recording::file))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/recording/{sid}")
            .route(web::get().to(recording::session))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics::metrics))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/internal/bot-token")
            .route(web::post().to(internal::bot_token))
            .default_service(web::to(fallback::allow_post)),
    );
}
