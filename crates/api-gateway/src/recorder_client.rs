//! The gateway's client for recorders' internal API (each call names the recorder's base URL:
//! `RECORDER_URL`, or a cluster member's), and the one place upstream failures become public
//! errors: unreachable → 503, timed out → 504, anything else that is not a proper answer → 502.
//! The recorder's own JSON errors pass through unchanged (a 500 of its becomes a 502: clients
//! never see a 500).

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use memharbor_shared::error_body::ErrorBody;
use memharbor_shared::internal_api;
use memharbor_shared::internal_auth;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// What `/api/health` reports of the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderHealth {
    Ok,
    Unreachable,
    /// It answers, but refuses the gateway's internal key: the two services do not share
    /// `MEMHARBOR_SECRET_KEY`.
    KeyRefused,
}

/// Calls that only read the recorder's state get this long at most.
const QUICK_TIMEOUT: Duration = Duration::from_secs(10);

/// Talks to recorders; every call carries the internal key derived from `MEMHARBOR_SECRET_KEY`.
#[derive(Debug, Clone)]
pub struct RecorderClient {
    http: reqwest::Client,
    key: String,
    /// For start and stop (which wait for a join, or for an upload).
    slow_timeout: Duration,
}

impl RecorderClient {
    pub fn new(secret_key: &str, slow_timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            key: internal_auth::derive_key(secret_key),
            slow_timeout,
        })
    }

    /// Whether the recorder answers an authenticated call (`/internal/ping`) within a second: a
    /// recorder that runs but refuses the gateway's key is as useless as one that is down, and
    /// `/api/health` says which.
    pub async fn health(&self, base: &str) -> RecorderHealth {
        let answer = self
            .http
            .get(format!("{base}{}", internal_api::PING))
            .header(internal_auth::HEADER, &self.key)
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => RecorderHealth::Ok,
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => RecorderHealth::KeyRefused,
            _ => RecorderHealth::Unreachable,
        }
    }

    fn request(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        slow: bool,
        request_id: Option<&HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{base}{path}"))
            .header(internal_auth::HEADER, &self.key)
            .timeout(if slow {
                self.slow_timeout
            } else {
                QUICK_TIMEOUT.min(self.slow_timeout)
            });
        if let Some(id) = request_id.and_then(|v| v.to_str().ok()) {
            builder = builder.header(crate::middleware::gate::REQUEST_ID.as_str(), id);
        }
        builder
    }

    /// POSTs `body` and relays the answer, which must be an `A` (the internal API's type for
    /// it); the answer read is returned too.
    pub async fn post_json<B: Serialize, A: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &B,
        slow: bool,
        request_id: Option<&HeaderValue>,
    ) -> Result<(HttpResponse, A), ApiError> {
        let response = self
            .request(base, reqwest::Method::POST, path, slow, request_id)
            .json(body)
            .send()
            .await;
        let (status, body, answer) = read_json::<A>(response.map_err(transport)?).await?;
        Ok((
            HttpResponse::build(status)
                .content_type("application/json")
                .body(body),
            answer,
        ))
    }

    /// GETs; the answer read as an `A`.
    pub async fn get_typed<A: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<A, ApiError> {
        let response = self
            .request(base, reqwest::Method::GET, path, false, request_id)
            .send()
            .await;
        read_json::<A>(response.map_err(transport)?)
            .await
            .map(|(_, _, answer)| answer)
    }

    /// GETs and relays the answer, which must be an `A`.
    pub async fn get_json<A: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let response = self
            .request(base, reqwest::Method::GET, path, false, request_id)
            .send()
            .await;
        relay_json::<A>(response.map_err(transport)?).await
    }

    /// GETs a file, forwarding `headers` (Range, conditionals), and streams it back as it comes.
    /// Only the wait for the answer's headers is bounded: a long download may take its time.
    pub async fn get_file(
        &self,
        base: &str,
        path: &str,
        headers: &[(&str, &HeaderValue)],
        request_id: Option<&HeaderValue>,
    ) -> Result<HttpResponse, ApiError> {
        let mut request = self
            .request(base, reqwest::Method::GET, path, false, request_id)
            .timeout(Duration::from_secs(24 * 3600));
        for (name, value) in headers {
            request = request.header(*name, value.as_bytes());
        }
        let response = match tokio::time::timeout(
            QUICK_TIMEOUT.min(self.slow_timeout),
            request.send(),
        )
        .await
        {
            Ok(response) => response.map_err(transport)?,
            Err(_) => return Err(timed_out("no answer before the deadline".into())),
        };
        let status = response.status();
        if !(status.is_success()
            || status == reqwest::StatusCode::NOT_MODIFIED
            || status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE)
        {
            return Err(error_from(
                status,
                response.headers().get("retry-after").cloned(),
                response.bytes().await.unwrap_or_default(),
            ));
        }
        let is_wav = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes() == b"audio/wav");
        if status.is_success() && !is_wav {
            return Err(bad_upstream(format!(
                "recorder answered {status} for a file without audio/wav"
            )));
        }
        let mut out = HttpResponse::build(
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        );
        for name in [
            "content-type",
            "content-length",
            "content-range",
            "accept-ranges",
            "etag",
            "last-modified",
            "content-disposition",
        ] {
            if let Some(value) = response.headers().get(name) {
                out.insert_header((name, value.as_bytes()));
            }
        }
        Ok(out.streaming(response.bytes_stream()))
    }
}

fn timed_out(cause: String) -> ApiError {
    ApiError::Upstream {
        status: StatusCode::GATEWAY_TIMEOUT,
        code: "recorder_timeout",
        message: "the recorder did not answer in time; the request may still complete, check status before retrying",
        cause,
    }
}

fn transport(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        timed_out(e.to_string())
    } else if e.is_connect() {
        ApiError::Upstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "recorder_unavailable",
            message: "the recorder cannot be reached; retry shortly",
            cause: e.to_string(),
        }
    } else {
        bad_upstream(e.to_string())
    }
}

fn bad_upstream(cause: String) -> ApiError {
    ApiError::Upstream {
        status: StatusCode::BAD_GATEWAY,
        code: "recorder_error",
        message: "the recorder failed to answer properly; retry, and report it if it persists",
        cause,
    }
}

/// The recorder's error answer as a public error. A 401/403 is never the client's fault (the
/// recorder only checks the gateway's internal key): it is a 502 that names the misconfiguration,
/// not a 401 the client would read as its own key failing.
fn error_from(
    status: reqwest::StatusCode,
    retry_after: Option<reqwest::header::HeaderValue>,
    body: Bytes,
) -> ApiError {
    if matches!(status.as_u16(), 401 | 403) {
        return ApiError::Upstream {
            status: StatusCode::BAD_GATEWAY,
            code: "recorder_auth_failed",
            message: "the recorder refused the gateway's credentials: the service is misconfigured (its operator must give the gateway and the recorder the same MEMHARBOR_SECRET_KEY)",
            cause: format!("recorder answered {status}"),
        };
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) if status.is_client_error() || status.is_server_error() => {
            let status = match status.as_u16() {
                502..=504 => {
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
                }
                code if code >= 500 => StatusCode::BAD_GATEWAY,
                code => StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
            };
            ApiError::Recorder {
                status,
                body: Box::new(body),
                retry_after: retry_after.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()),
            }
        }
        _ => bad_upstream(format!(
            "recorder answered {status} with {} bytes that are not an error body",
            body.len()
        )),
    }
}

/// The recorder's answer read as an `A` (with its status and bytes): a body the contract does
/// not describe is the recorder's failure (502), never passed on.
async fn read_json<A: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<(StatusCode, Bytes, A), ApiError> {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        return match serde_json::from_slice::<A>(&body) {
            Ok(answer) => Ok((
                StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK),
                body,
                answer,
            )),
            Err(e) => Err(bad_upstream(format!(
                "recorder answered {status} with a body the internal API does not describe: {e}"
            ))),
        };
    }
    Err(error_from(status, retry_after, body))
}

/// Relays the recorder's answer as it came, once it has been read as an `A`.
async fn relay_json<A: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<HttpResponse, ApiError> {
    let (status, body, _) = read_json::<A>(response).await?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(body))
}
