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

pub async fn allow_get() -> HttpResponse {
    ApiError::MethodNotAllowed { allow: "GET" }.error_response()
}

pub async fn allow_post() -> HttpResponse {
    ApiError::MethodNotAllowed { allow: "POST" }.error_response()
}
