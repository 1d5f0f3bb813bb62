//! Only the gateway may call `/internal/*`: it sends the key derived from `MEMHARBOR_SECRET_KEY`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _, web};
use memharbor_shared::internal_auth;

use super::RecorderState;
use crate::error::RecorderError;

pub async fn require_internal_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if req.path().starts_with("/internal/") {
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
