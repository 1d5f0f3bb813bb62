//! The public routes, one module per resource, and the JSON 404/405 for everything else.

mod fallback;
mod health;
mod internal;
mod metrics;
mod openapi;
mod recording;
mod token;

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, Handler, Resource, Responder};

pub use fallback::not_found;

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
        .default_service(web::to(move || fallback::method_not_allowed(allow)))
}

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/api/health", Method::GET, health::health))
        .service(resource(
            "/api/openapi.json",
            Method::GET,
            openapi::document,
        ))
        .service(resource("/api/token", Method::POST, token::issue))
        // Fixed paths before `/api/recording/{sid}`.
        .service(resource(
            "/api/recording/start",
            Method::POST,
            recording::start,
        ))
        .service(resource(
            "/api/recording/stop",
            Method::POST,
            recording::stop,
        ))
        .service(resource(
            "/api/recording/status",
            Method::GET,
            recording::status,
        ))
        .service(resource(
            "/api/recording/list",
            Method::GET,
            recording::list,
        ))
        .service(resource(
            "/api/recording/files/{filename}",
            Method::GET,
            recording::file,
        ))
        .service(resource(
            "/api/recording/{sid}",
            Method::GET,
            recording::session,
        ))
        .service(resource("/metrics", Method::GET, metrics::metrics))
        .service(resource(
            "/internal/bot-token",
            Method::POST,
            internal::bot_token,
        ));
}

/// Handlers take the caller the gate stored; a request the gate did not see is refused.
impl actix_web::FromRequest for crate::auth::Caller {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage as _;
        std::future::ready(
            req.extensions()
                .get::<crate::auth::Caller>()
                .cloned()
                .ok_or_else(|| {
                    crate::error::ApiError::Auth(crate::auth::Rejection::Missing).into()
                }),
        )
    }
}
