//! Routes for the recorder only (outside `/api`, so nginx never forwards them): a fresh bot token
//! when Agora says the current one will expire. Authenticated with the internal key.

use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use memharbor_shared::channel::RecordingChannel;
use memharbor_shared::internal_api::{BotToken, BotTokenRequest};
use memharbor_shared::internal_auth;

use crate::error::ApiError;
use crate::state::State;
use crate::tokens;

pub async fn bot_token(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let presented = req
        .headers()
        .get(internal_auth::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !internal_auth::matches(presented, &state.internal_key) {
        return ApiError::Unauthorized.error_response();
    }
    let Ok(body) = serde_json::from_slice::<BotTokenRequest>(&body) else {
        return ApiError::bad_request("invalid_json", None, "send {\"channel\": \"...\"}")
            .error_response();
    };
    if RecordingChannel::parse(&body.channel).is_none() {
        return ApiError::bad_request(
            "invalid_channel",
            Some("channel"),
            "not a recording channel",
        )
        .error_response();
    }
    let (token, expire_in) = tokens::bot_token(
        &state.tokens,
        state.recorder_uid,
        state.recorder_max_duration_s,
        &body.channel,
    );
    HttpResponse::Ok().json(BotToken { token, expire_in })
}
