//! Optional API keys: with `MEMHARBOR_API_KEYS` set, every `/api/*` route but health and the OpenAPI
//! document needs `Authorization: Bearer <key>`, compared in constant time.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::startup::AppState;

/// Routes anyone may call.
const OPEN_PATHS: [&str; 2] = ["/api/health", "/api/openapi.json"];

/// True if `header` is `Bearer <k>` for one of `keys`. Every key is compared, so timing does not
/// reveal which one matched.
pub fn bearer_matches(header: Option<&str>, keys: &[SecretString]) -> bool {
    let Some(presented) = header.and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }) else {
        return false;
    };
    keys.iter().fold(false, |found, key| {
        let key = key.expose_secret().as_bytes();
        let same = key.len() == presented.len() && bool::from(key.ct_eq(presented.as_bytes()));
        found | same
    })
}

pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let keys = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.api_keys.clone())
        .unwrap_or_default();
    let path = req.path();
    let needs_key = !keys.is_empty() && path.starts_with("/api/") && !OPEN_PATHS.contains(&path);
    if needs_key {
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !bearer_matches(header, &keys) {
            let response = ApiError::Unauthorized.error_response();
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
    fn bearer_scheme_and_exact_key() {
        let keys = vec![
            SecretString::from("k1".to_owned()),
            SecretString::from("key-two".to_owned()),
        ];
        assert!(bearer_matches(Some("Bearer key-two"), &keys));
        assert!(bearer_matches(Some("bearer k1"), &keys));
        assert!(!bearer_matches(Some("Bearer k"), &keys));
        assert!(!bearer_matches(Some("Basic k1"), &keys));
        assert!(!bearer_matches(Some("k1"), &keys));
        assert!(!bearer_matches(None, &keys));
    }
}
