//! JSON answers for unknown routes (404) and known routes called with the wrong method (405).

use actix_web::{HttpResponse, ResponseError as _};

use crate::error::ApiError;

pub async fn not_found() -> HttpResponse {
    ApiError::NotFound {
        code: "not_found",
        message: "no such route; see /api/openapi.json for the routes this API has".into(),
    }
    .error_response()
}

pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    ApiError::MethodNotAllowed { allow }.error_response()
}
