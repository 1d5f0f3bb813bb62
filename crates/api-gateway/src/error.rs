//! The gateway's one error type, and the one place it becomes an HTTP status and JSON body.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use memharbor_shared::error_body::ErrorBody;

/// Everything a request can fail with. 5xx bodies are opaque; their cause goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON or an invalid field.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        field: Option<&'static str>,
        message: Cow<'static, str>,
    },
    /// 401 for the gateway's own internal route (the recorder's key is missing or wrong).
    #[error("missing or invalid internal key")]
    Unauthorized,
    /// 401 (or 503 when the key set is unreachable): the credentials were refused.
    #[error("credentials refused: {}", .0.reason())]
    Auth(crate::auth::Rejection),
    /// 403: authenticated, but not allowed this (someone else's channel).
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        field: Option<&'static str>,
        message: &'static str,
    },
    /// 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: &'static str,
        retry_after_s: u64,
    },
    #[error("{message}")]
    NotFound {
        code: &'static str,
        message: Cow<'static, str>,
    },
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// A status and error body decided by the recorder (4xx, or 503 with `Retry-After`), passed on.
    #[error("recorder answered {status}: {}", body.error.message)]
    Recorder {
        status: StatusCode,
        body: Box<ErrorBody>,
        retry_after: Option<HeaderValue>,
    },
    /// 502/503/504: the recorder could not be used. `cause` is logged, never sent.
    #[error("{message}: {cause}")]
    Upstream {
        status: StatusCode,
        code: &'static str,
        message: &'static str,
        cause: String,
    },
}

impl ApiError {
    pub fn bad_request(
        code: &'static str,
        field: Option<&'static str>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::BadRequest {
            code,
            field,
            message: message.into(),
        }
    }

    pub fn missing(field: &'static str) -> Self {
        Self::bad_request("missing_field", Some(field), format!("{field} is required"))
    }

    /// The code of a refusal that is one of ours (for the metrics' reason label).
    pub fn code_static(&self) -> &'static str {
        match self {
            ApiError::Forbidden { code, .. } | ApiError::TooManyRequests { code, .. } => code,
            ApiError::Auth(rejection) => rejection.reason(),
            _ => "other",
        }
    }

    /// The stable error code sent to clients.
    pub fn code(&self) -> &str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::NotFound { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Auth(rejection) => rejection.code(),
            ApiError::Forbidden { code, .. } | ApiError::TooManyRequests { code, .. } => code,
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Recorder { body, .. } => &body.error.code,
            ApiError::Upstream { code, .. } => code,
        }
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            ApiError::BadRequest {
                code,
                field,
                message,
            } => ErrorBody::new(*code, message.as_ref(), *field),
            ApiError::Unauthorized => ErrorBody::new(
                self.code(),
                "this route needs the recorder's internal key",
                None,
            ),
            ApiError::Auth(rejection) => {
                ErrorBody::new(rejection.code(), rejection.message(), None)
            }
            ApiError::Forbidden {
                code,
                field,
                message,
            } => ErrorBody::new(*code, *message, *field),
            ApiError::TooManyRequests { code, message, .. } => {
                ErrorBody::new(*code, *message, None)
            }
            ApiError::NotFound { code, message } => ErrorBody::new(*code, message.as_ref(), None),
            ApiError::MethodNotAllowed { allow } => ErrorBody::new(
                self.code(),
                format!("this route accepts {allow} only"),
                None,
            ),
            ApiError::PayloadTooLarge => ErrorBody::new(
                self.code(),
                "request body is larger than 16 KiB; send at most 16384 bytes",
                None,
            ),
            ApiError::UnsupportedMediaType => ErrorBody::new(
                self.code(),
                "request body must be JSON: send Content-Type: application/json",
                None,
            ),
            ApiError::Recorder { body, .. } => (**body).clone(),
            ApiError::Upstream { code, message, .. } => ErrorBody::new(*code, *message, None),
        }
    }
}

impl From<crate::auth::access::Denied> for ApiError {
    fn from(d: crate::auth::access::Denied) -> Self {
        ApiError::Forbidden {
            code: d.code,
            field: d.field,
            message: d.message,
        }
    }
}

impl From<crate::auth::limits::Limited> for ApiError {
    fn from(l: crate::auth::limits::Limited) -> Self {
        ApiError::TooManyRequests {
            code: l.code,
            message: l.message,
            retry_after_s: l.retry_after_s,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Auth(rejection) => rejection.status(),
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Recorder { status, .. } | ApiError::Upstream { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // 5xx causes are logged by the `gate` middleware, with the request id.
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Auth(rejection) => {
                if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
                    response.insert_header((header::RETRY_AFTER, "5"));
                } else {
                    response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
            }
            ApiError::TooManyRequests { retry_after_s, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::Recorder {
                retry_after: Some(value),
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, value.clone()));
            }
            ApiError::Upstream { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}
