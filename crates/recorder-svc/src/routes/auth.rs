//! Only the gateway may call the recorder's API: it sends the key derived from
//! `MEMHARBOR_SECRET_KEY`. Deny by default: every path but the ops endpoints needs the key, and
//! the check reads the path as the router matches it (percent-decoded), so `/%69nternal/...` is
//! `/internal/...` to the check exactly as it is to the router.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _, web};
use memharbor_shared::internal_auth;

use super::RecorderState;
use crate::error::RecorderError;

/// What anyone who can reach the port may call: liveness, readiness, the ops page and metrics.
const OPEN_PATHS: [&str; 4] = ["/livez", "/readyz", "/status", "/metrics"];

/// True if `routed_path` (the router's, percent-decoded) needs the internal key.
pub fn needs_key(routed_path: &str) -> bool {
    !OPEN_PATHS.contains(&routed_path)
}

pub async fn require_internal_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if needs_key(req.match_info().as_str()) {
        let expected = req
            .app_data::<web::Data<RecorderState>>()
            .map(|s| s.internal_key.clone())
            .unwrap_or_default();
        let presented = req
            .headers()
            .get(internal_auth::HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if expected.is_empty() || !internal_auth::matches(presented, &expected) {
            let response = RecorderError::Unauthorized.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ops_endpoints_are_open() {
        for open in OPEN_PATHS {
            assert!(!needs_key(open));
        }
        for closed in [
            "/internal/recordings",
            "/internal/ping",
            "/",
            "/x",
            "/status/",
        ] {
            assert!(needs_key(closed), "{closed}");
        }
    }
}
