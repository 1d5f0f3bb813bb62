//! The one middleware every request passes through: it gives the request an id (echoed in
//! `X-Request-Id`, and set on the request so the proxy forwards it), checks the API key when keys
//! are configured, counts and times the request for `/metrics` under the route pattern the router
//! matches, and logs failures.
//!
//! One hand-written layer: the key check answers 401 before the inner service is called, and
//! both the check and the metrics read the path the way the router does (percent-decoded).

use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::{Error, ResponseError as _};
use futures_util::future::LocalBoxFuture;
use secrecy::SecretString;
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::middleware::auth;
use memharbor_shared::http_metrics::UNKNOWN_ROUTE;

/// Header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware's configuration: the API keys (none = open) and the metrics it feeds.
#[derive(Clone, Debug)]
pub struct Gate {
    keys: Arc<[SecretString]>,
    metrics: Arc<Metrics>,
}

impl Gate {
    pub fn new(keys: Arc<[SecretString]>, metrics: Arc<Metrics>) -> Self {
        Self { keys, metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Gate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService {
            service,
            keys: Arc::clone(&self.keys),
            metrics: Arc::clone(&self.metrics),
        }))
    }
}

#[derive(Debug)]
pub struct GateService<S> {
    service: S,
    keys: Arc<[SecretString]>,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<ServiceRequest> for GateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let (id, generated) = request_id(&req);
        // What the router will match: percent-decoded. Checking the raw path would let
        // `/%61pi/token` reach `/api/token` unchecked.
        let routed_path = req.match_info().as_str();
        let needs_key = auth::needs_key(routed_path);
        // Set on the request too, so the recorder proxy forwards it upstream.
        if generated {
            req.headers_mut().insert(REQUEST_ID, id.clone());
        }
        let method = req.method().clone();
        let metrics = Arc::clone(&self.metrics);
        let keys = &self.keys;
        let denied = !keys.is_empty()
            && needs_key
            && !auth::bearer_matches(
                req.headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
                keys,
            );
        let inner = if denied {
            // Not routed: the pattern it would have matched, for the metrics.
            let route = req.resource_map().match_pattern(req.match_info().as_str());
            Err((req, route))
        } else {
            let span = tracing::debug_span!("request", id = id.to_str().unwrap_or("-"));
            Ok(self.service.call(req).instrument(span))
        };
        Box::pin(async move {
            let (mut response, route) = match inner {
                Ok(call) => {
                    let response = call.await?;
                    // The pattern the router matched (`/api/recording/{sid}`): the route label.
                    let route = response.request().match_pattern();
                    (response.map_into_left_body(), route)
                }
                Err((req, route)) => (
                    req.into_response(ApiError::Unauthorized.error_response())
                        .map_into_right_body(),
                    route,
                ),
            };
            let status = response.status();
            metrics.observe(
                route.as_deref().unwrap_or(UNKNOWN_ROUTE),
                method.as_str(),
                status.as_u16(),
                started.elapsed().as_secs_f64(),
            );
            let request_id = id.to_str().unwrap_or("-");
            let path = response.request().path();
            if status.is_server_error() {
                let cause = response.response().error().map(ToString::to_string);
                tracing::warn!(request_id, %method, path, status = status.as_u16(), cause, "request failed");
            } else {
                tracing::debug!(request_id, %method, path, status = status.as_u16(), "request done");
            }
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

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
