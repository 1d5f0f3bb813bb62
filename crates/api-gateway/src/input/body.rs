//! Reading a JSON request body: content type (415), the 16 KiB cap (413), and well-formedness (400).

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// True for `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads the body (at most [`MAX_BODY_BYTES`]) after checking the content type.
pub async fn read(req: &HttpRequest, mut payload: web::Payload) -> Result<Bytes, ApiError> {
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = BytesMut::with_capacity(declared.map_or(256, |l| l as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request(
                "invalid_body",
                None,
                "request body could not be read completely; send a complete JSON object",
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn not_an_object() -> ApiError {
    ApiError::bad_request(
        "invalid_json",
        None,
        "request body must be a JSON object, like {\"channel\": \"...\"}",
    )
}

/// Parses a body that must be one JSON object into `T` (a struct of optional fields, so unknown
/// fields are skipped without being built; it may borrow strings from `body`).
pub fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ApiError::bad_request(
                "invalid_json",
                None,
                "request body is empty; send a JSON object",
            ));
        }
        Some(b'{') => {}
        // Valid JSON of another kind, or not JSON at all.
        Some(_) => {
            return Err(match serde_json::from_slice::<Value>(body) {
                Ok(_) => not_an_object(),
                Err(e) => invalid_json(&e),
            });
        }
    }
    serde_json::from_slice(body).map_err(|e| invalid_json(&e))
}

fn invalid_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "invalid_json",
        None,
        format!("request body is not valid JSON ({e}); send a JSON object"),
    )
}
