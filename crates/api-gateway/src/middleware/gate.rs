//! The one middleware every request passes through: it gives the request an id (echoed in
//! `X-Request-Id`, and set on the request so the proxy forwards it), finds out who is calling
//! (`crate::auth`: API key, Firebase ID token, or nothing when auth is off) unless the route is
//! open, counts and times the request for `/metrics` under the route pattern the router matches,
//! and logs failures.
//!
//! The credential check reads the path as the router does (percent-decoded), and answers 401
//! before the inner service is called. An API key (or auth off) is decided at once; only a
//! Firebase ID token waits, for its signing key.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage as _, ResponseError as _};
use futures_util::future::LocalBoxFuture;
use memharbor_shared::http_metrics::UNKNOWN_ROUTE;
use tracing::Instrument as _;

use crate::auth::{self, Authenticator, Caller, keys};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware's configuration: who may call, and the metrics it feeds.
#[derive(Clone, Debug)]
pub struct Gate {
    auth: Arc<Authenticator>,
    metrics: Arc<Metrics>,
}

impl Gate {
    pub fn new(auth: Arc<Authenticator>, metrics: Arc<Metrics>) -> Self {
        Self { auth, metrics }
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
            service: Rc::new(service),
            auth: Arc::clone(&self.auth),
            metrics: Arc::clone(&self.metrics),
        }))
    }
}

#[derive(Debug)]
pub struct GateService<S> {
    service: Rc<S>,
    auth: Arc<Authenticator>,
    metrics: Arc<Metrics>,
}

/// What the credential check decided before the inner service may run.
enum Decision {
    Let(Caller),
    /// An ID token to verify (the bearer token, owned).
    Verify(String),
    Refuse(auth::Rejection),
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
        let decision = if keys::needs_credentials(req.match_info().as_str()) {
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match self.auth.decide_now(header) {
                Some(Ok(caller)) => Decision::Let(caller),
                Some(Err(rejection)) => Decision::Refuse(rejection),
                None => Decision::Verify(header.unwrap_or_default().to_owned()),
            }
        } else {
            Decision::Let(Caller::Anyone)
        };
        // Set on the request too, so the recorder proxy forwards it upstream.
        if generated {
            req.headers_mut().insert(REQUEST_ID, id.clone());
        }
        let method = req.method().clone();
        let (service, auth, metrics) = (
            Rc::clone(&self.service),
            Arc::clone(&self.auth),
            Arc::clone(&self.metrics),
        );
        Box::pin(async move {
            let caller = match decision {
                Decision::Let(caller) => Ok(caller),
                Decision::Refuse(rejection) => Err(rejection),
                Decision::Verify(header) => auth.authenticate(Some(&header)).await,
            };
            let (mut response, route) = match caller {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    let span = tracing::debug_span!("request", id = id.to_str().unwrap_or("-"));
                    let response = service.call(req).instrument(span).await?;
                    // The pattern the router matched (`/api/recording/{sid}`): the route label.
                    let route = response.request().match_pattern();
                    (response.map_into_left_body(), route)
                }
                Err(rejection) => {
                    metrics.auth_failure(rejection.reason());
                    // Not routed: the pattern it would have matched, for the metrics.
                    let route = req.resource_map().match_pattern(req.match_info().as_str());
                    (
                        req.into_response(ApiError::Auth(rejection).error_response())
                            .map_into_right_body(),
                        route,
                    )
                }
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
