//! `GET /api/openapi.json`: the API's OpenAPI 3 document (kept true by `tests/api/openapi.rs`).

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;

/// The document, as committed beside the crate.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(DOCUMENT)
}
