//! `POST /api/token`: an Agora RTC token for a channel and a uid or user account.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use agora_token::{Identity, Role, TokenRequest};
use serde::Serialize;

use crate::api_log::Level;
use crate::client_ip::{ClientIp, client_ip};
use crate::startup::AppState;
use crate::token_request::RawTokenRequest;
use crate::{body, token_request};

#[derive(Serialize)]
struct Issued {
    token: String,
    expire_at: u64,
    expire_in: u32,
}

pub async fn issue(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut log = state.api_log.entry("TOKEN");
    log.line(
        Level::Info,
        format_args!(
            "POST from {}",
            ClientIp(client_ip(&req, &state.trusted_proxies))
        ),
    );
    let raw = body::read(&req, payload).await;
    if let Ok(raw) = &raw {
        log.request_data(raw);
    }
    let outcome = raw
        .and_then(|raw| body::parse_object::<RawTokenRequest>(&raw))
        .and_then(|raw| token_request::parse(&raw))
        .map(|params| {
            let issued = build(&state, &params);
            (params, issued)
        });

    let response = match outcome {
        Ok((params, issued)) => {
            log.line(
                Level::Info,
                format_args!(
                    "Success: channel={}, {}, role={}, expire_in={}",
                    params.channel,
                    IdentityLog(&params.identity),
                    role_name(params.role),
                    params.expire_in
                ),
            );
            state
                .metrics
                .token_issued(role_name(params.role), state.tokens.version().prefix());
            json(&issued)
        }
        Err(e) => {
            log.line(
                Level::Warning,
                format_args!("Failed: {} ({})", e.code(), e.body().error.message),
            );
            e.error_response()
        }
    };
    state.api_log.commit(log);
    response
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

fn build(state: &AppState, params: &token_request::TokenParams) -> Issued {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Agora timestamps are u32 seconds (good until 2106).
    let issued_at = u32::try_from(now).unwrap_or(u32::MAX);
    let token = state.tokens.build(&TokenRequest {
        channel: &params.channel,
        identity: &params.identity,
        role: params.role,
        issued_at,
        expire: params.expire_in,
        salt: rand::random_range(1..=99_999_999),
    });
    Issued {
        token,
        expire_at: now + u64::from(params.expire_in),
        expire_in: params.expire_in,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
    }
}

struct IdentityLog<'a>(&'a Identity);

impl std::fmt::Display for IdentityLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Identity::Uid(uid) => write!(f, "uid={uid}"),
            Identity::Account(account) => write!(f, "user_account={account}"),
        }
    }
}
