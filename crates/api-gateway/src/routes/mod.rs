//! The public routes, one module per resource, and the JSON 404/405 for everything else.

mod fallback;
mod health;
mod openapi;
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
    );
}
