//! `/api/recording/*`: validated here, then handed to the recorder that holds it (`recorders`,
//! the routing seam). The gateway mints the bot's token, so the recorder never needs the App
//! Certificate.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use memharbor_shared::channel::{CHANNEL_RULE, RecordingChannel};
use memharbor_shared::internal_api::{self, Given, StartRequest, StopTarget};
use serde::Deserialize;

use crate::auth::{Caller, access};
use crate::error::ApiError;
use crate::input::body;
use crate::input::json_field::Field;
use crate::input::token_request::CHANNEL_ACCEPTS;
use crate::middleware::api_log::{Entry, Level};
use crate::middleware::client_ip::{ClientIp, client_ip};
use crate::middleware::gate::REQUEST_ID;
use crate::state::{AppState, State};
use crate::tokens;

fn request_id(req: &HttpRequest) -> Option<&HeaderValue> {
    req.headers().get(&REQUEST_ID)
}

/// Logs the request's first line (and body), runs `work`, logs the outcome, answers.
async fn logged(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    tag: &'static str,
    body: Option<&[u8]>,
    work: impl Future<Output = Result<HttpResponse, ApiError>>,
) -> HttpResponse {
    let mut log = state.api_log.entry(tag);
    let ip = ClientIp(client_ip(req, &state.trusted_proxies));
    match caller.log_name() {
        Some(user) => log.line(
            Level::Info,
            format_args!("{} from {ip} (user {user})", req.method()),
        ),
        None => log.line(Level::Info, format_args!("{} from {ip}", req.method())),
    }
    if let Some(body) = body {
        log.request_data(body);
    }
    let response = match work.await {
        Ok(response) => {
            log.line(
                Level::Info,
                format_args!("Success: {} {}", req.path(), response.status().as_u16()),
            );
            response
        }
        Err(e) => {
            if matches!(
                e,
                ApiError::Forbidden { .. } | ApiError::TooManyRequests { .. }
            ) {
                state.metrics.auth_failure(e.code_static());
            }
            outcome_failed(&mut log, &e);
            e.error_response()
        }
    };
    state.api_log.commit(log);
    response
}

fn outcome_failed(log: &mut Entry, e: &ApiError) {
    let level = if e.status_code().is_server_error() {
        Level::Error
    } else {
        Level::Warning
    };
    log.line(
        level,
        format_args!("Failed: {} ({})", e.code(), e.body().error.message),
    );
}

/// `channel` for start: a valid Agora channel of the form `{groupId}_{user1}_{user2}`.
fn recording_channel(value: Option<&Field>) -> Result<RecordingChannel, ApiError> {
    let name = crate::input::token_request::channel(value)?;
    RecordingChannel::parse(name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_channel",
            Some("channel"),
            format!("{CHANNEL_RULE} ({CHANNEL_ACCEPTS})"),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StartBody<'a> {
    #[serde(borrow)]
    channel: Option<Field<'a>>,
    #[serde(borrow)]
    speakers: Option<Field<'a>>,
}

pub async fn start(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    caller: Caller,
) -> HttpResponse {
    let raw = body::read(&req, payload).await;
    let data = raw.as_ref().ok().cloned();
    logged(&state, &req, &caller, "START", data.as_deref(), async {
        let raw = raw?;
        let parsed: StartBody = body::parse_object(&raw)?;
        let channel = recording_channel(parsed.channel.as_ref())?;
        access::may_record(&caller, &channel)?;
        state.limits.start(&caller)?;
        if let Some(user) = caller.restricted_to() {
            // The cap on a user's running recordings (a start of one already running is fine:
            // it answers that session).
            let running = state
                .recorders
                .sessions(Some(user), request_id(&req))
                .await?;
            if !running.iter().any(|s| s.channel == channel.as_str()) {
                state.limits.recordings(running.len())?;
            }
        }
        let speakers = match parsed.speakers {
            None => false,
            Some(Field::Bool(b)) => b,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_speakers",
                    Some("speakers"),
                    "speakers must be true or false (default false)",
                ));
            }
        };
        let (token, _) = tokens::bot_token(
            &state.tokens,
            state.recorder_uid,
            state.recorder_max_duration_s,
            channel.as_str(),
        );
        let request = StartRequest {
            channel: channel.as_str().to_owned(),
            speakers,
            app_id: state.tokens.app_id().as_str().to_owned(),
            token,
            uid: state.recorder_uid,
        };
        state.recorders.start(&request, request_id(&req)).await
    })
    .await
}

/// A stop field as the shared rule sees it.
fn given<'a>(field: Option<&'a Field<'_>>) -> Given<'a> {
    match field {
        None => Given::Absent,
        Some(Field::Str(text)) => Given::Text(text),
        Some(_) => Given::Other,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StopBody<'a> {
    #[serde(borrow)]
    sid: Option<Field<'a>>,
    #[serde(borrow)]
    channel: Option<Field<'a>>,
}

pub async fn stop(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    caller: Caller,
) -> HttpResponse {
    let raw = body::read(&req, payload).await;
    let data = raw.as_ref().ok().cloned();
    logged(&state, &req, &caller, "STOP", data.as_deref(), async {
        let raw = raw?;
        let parsed: StopBody = body::parse_object(&raw)?;
        let target =
            StopTarget::from_fields(given(parsed.sid.as_ref()), given(parsed.channel.as_ref()))
                .map_err(|e| ApiError::bad_request(e.code, Some(e.field), e.message))?;
        if let (StopTarget::Channel(name), Some(_)) = (&target, caller.restricted_to()) {
            // A user names their own channel (403 otherwise, as for start); by sid, someone
            // else's session is simply unknown (the recorder answers 404 for `forUser`).
            let channel = RecordingChannel::parse(name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_channel",
                    Some("channel"),
                    format!("{CHANNEL_RULE} ({CHANNEL_ACCEPTS})"),
                )
            })?;
            access::may_record(&caller, &channel)?;
        }
        state
            .recorders
            .stop(&target, caller.restricted_to(), request_id(&req))
            .await
    })
    .await
}

pub async fn status(req: HttpRequest, state: State, caller: Caller) -> HttpResponse {
    logged(
        &state,
        &req,
        &caller,
        "STATUS",
        None,
        state
            .recorders
            .status(caller.restricted_to(), request_id(&req)),
    )
    .await
}

pub async fn list(req: HttpRequest, state: State, caller: Caller) -> HttpResponse {
    let query = match caller.restricted_to() {
        // A user's list is theirs, whatever they ask: `user` is set to them.
        Some(user) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
                if key != "user" {
                    query.append_pair(&key, &value);
                }
            }
            query.append_pair("user", user);
            query.finish()
        }
        None => req.query_string().to_owned(),
    };
    let path = match query.as_str() {
        "" => internal_api::RECORDINGS.to_owned(),
        query => format!("{}?{query}", internal_api::RECORDINGS),
    };
    logged(
        &state,
        &req,
        &caller,
        "LIST",
        None,
        state.recorders.list(&path, request_id(&req)),
    )
    .await
}

pub async fn session(
    req: HttpRequest,
    path: web::Path<String>,
    state: State,
    caller: Caller,
) -> HttpResponse {
    let sid = path.into_inner();
    logged(&state, &req, &caller, "SESSION", None, async {
        // Anything but a sid is unknown; never forward arbitrary paths.
        if uuid::Uuid::parse_str(&sid).is_err() {
            return Err(ApiError::NotFound {
                code: "session_not_found",
                message: "no recording session with that sid".into(),
            });
        }
        state
            .recorders
            .session(&sid, caller.restricted_to(), request_id(&req))
            .await
    })
    .await
}

pub async fn file(
    req: HttpRequest,
    path: web::Path<String>,
    state: State,
    caller: Caller,
) -> HttpResponse {
    let filename = path.into_inner();
    logged(&state, &req, &caller, "FILE", None, async {
        let safe = !filename.is_empty()
            && filename.len() <= 255
            && filename
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
            && !filename.starts_with('.');
        if !safe {
            return Err(ApiError::NotFound {
                code: "recording_not_found",
                message: "no recording with that file name".into(),
            });
        }
        let forwarded: Vec<(&str, &HeaderValue)> =
            ["range", "if-range", "if-none-match", "if-modified-since"]
                .into_iter()
                .filter_map(|name| req.headers().get(name).map(|v| (name, v)))
                .collect();
        state
            .recorders
            .file(
                &filename,
                &forwarded,
                caller.restricted_to(),
                request_id(&req),
            )
            .await
    })
    .await
}
