//! `POST /api/token`: an Agora RTC token for a channel and a uid or user account.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use agora_token::Identity;
use serde::Serialize;

use crate::auth::{Caller, access};
use crate::error::ApiError;
use crate::input::token_request::{RawTokenRequest, TokenParams};
use crate::input::{body, token_request};
use crate::middleware::api_log::{Entry, Level};
use crate::middleware::client_ip::{ClientIp, client_ip};
use crate::state::{AppState, State};
use crate::tokens::issue_now;

#[derive(Serialize)]
struct Issued {
    token: String,
    expire_at: u64,
    expire_in: u32,
}

pub async fn issue(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    caller: Caller,
) -> HttpResponse {
    let mut log = state.api_log.entry("TOKEN");
    let ip = ClientIp(client_ip(&req, &state.trusted_proxies));
    log.line_with(Level::Info, |out| {
        out.push_str("POST from ");
        ip.push_to(out);
        if let Some(user) = caller.log_name() {
            out.push_str(" (user ");
            out.push_str(user);
            out.push(')');
        }
    });
    let outcome = match body::read(&req, payload).await {
        Ok(raw) => {
            log.request_data(&raw);
            answer(&state, &caller, &raw, &mut log)
        }
        Err(e) => Err(e),
    };
    let response = outcome.unwrap_or_else(|e| {
        log.line(
            Level::Warning,
            format_args!("Failed: {} ({})", e.code(), e.body().error.message),
        );
        e.error_response()
    });
    state.api_log.commit(log);
    response
}

/// A read body's answer: validated, signed, counted, and its success line logged.
fn answer(
    state: &AppState,
    caller: &Caller,
    raw: &[u8],
    log: &mut Entry,
) -> Result<HttpResponse, ApiError> {
    let request: RawTokenRequest = body::parse_object(raw)?;
    let params = token_request::parse(&request)?;
    if params.identity == Identity::Uid(state.recorder_uid) {
        // Whoever joins with the bot's uid pushes the bot out of the call (Agora lets one uid in
        // once): the recording would fill with silence while the bot rejoins again and again.
        return Err(ApiError::bad_request(
            "reserved_uid",
            Some("uid"),
            format!(
                "uid {} is the recording bot's own; give your users any other uid",
                state.recorder_uid
            ),
        ));
    }
    access::may_get_token(caller, state.access, params.channel, &params.identity)
        .inspect_err(|e| state.metrics.auth_failure(e.code))?;
    state
        .limits
        .token(caller)
        .inspect_err(|e| state.metrics.auth_failure(e.code))?;
    let issued = build(state, &params);
    log.line_with(Level::Info, |out| success_line(out, &params));
    state
        .metrics
        .token_issued(params.role, state.tokens.version());
    Ok(json(&issued))
}

/// `Success: channel=…, uid=… (or user_account=…), role=…, expire_in=…`.
fn success_line(out: &mut String, params: &TokenParams) {
    let mut digits = itoa::Buffer::new();
    out.push_str("Success: channel=");
    out.push_str(params.channel);
    match &params.identity {
        Identity::Uid(uid) => {
            out.push_str(", uid=");
            out.push_str(digits.format(*uid));
        }
        Identity::Account(account) => {
            out.push_str(", user_account=");
            out.push_str(account);
        }
    }
    out.push_str(", role=");
    out.push_str(params.role.as_str());
    out.push_str(", expire_in=");
    out.push_str(digits.format(params.expire_in));
}

/// The body as `.json()` writes it, into a buffer of the right size and a static content type.
fn json(issued: &Issued) -> HttpResponse {
    let mut body = Vec::with_capacity(issued.token.len() + 64);
    match serde_json::to_writer(&mut body, issued) {
        Ok(()) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(body),
        // Cannot happen (strings and numbers); actix's own path answers if it ever did.
        Err(_) => HttpResponse::Ok().json(issued),
    }
}

/// The token, issued now: after the body has arrived, however slowly it was sent.
fn build(state: &AppState, params: &TokenParams) -> Issued {
    let (token, now) = issue_now(
        &state.tokens,
        params.channel,
        &params.identity,
        params.role,
        params.expire_in,
    );
    Issued {
        token,
        expire_at: now + u64::from(params.expire_in),
        expire_in: params.expire_in,
    }
}

#[cfg(test)]
mod tests {
    use agora_token::Role;

    use super::*;

    #[test]
    fn success_lines_name_the_uid_or_the_account() {
        let mut params = TokenParams {
            channel: "group1_alice_bob",
            identity: Identity::Uid(4_294_967_295),
            role: Role::Publisher,
            expire_in: 86_400,
        };
        let mut out = String::new();
        success_line(&mut out, &params);
        assert_eq!(
            out,
            "Success: channel=group1_alice_bob, uid=4294967295, role=publisher, expire_in=86400"
        );
        params.identity = Identity::Account("alice".into());
        params.role = Role::Subscriber;
        params.expire_in = 1;
        out.clear();
        success_line(&mut out, &params);
        assert_eq!(
            out,
            "Success: channel=group1_alice_bob, user_account=alice, role=subscriber, expire_in=1"
        );
    }
}
