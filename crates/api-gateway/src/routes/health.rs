//! `GET /api/health`: the gateway is up; the recorder's state is reported, not propagated.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::startup::State;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    recorder: &'static str,
}

pub async fn health(state: State) -> HttpResponse {
    let recorder = if state.recorder.is_alive().await {
        "ok"
    } else {
        "unreachable"
    };
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        recorder,
    })
}
