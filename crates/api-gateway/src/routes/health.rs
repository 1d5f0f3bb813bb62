//! `GET /api/health`: the gateway is up; the recorder's state (in cluster mode: the recorders')
//! is reported, not propagated.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::recorder_client::RecorderHealth;
use crate::state::State;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    /// The spec's two values: `ok`, or `unreachable` for anything that makes it unusable.
    recorder: &'static str,
    /// Why it is unusable, when it answers but refuses the gateway's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    recorder_problem: Option<&'static str>,
    /// Cluster mode: the recorders live now, their capacity and sessions in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    recorders: Option<RecordersSummary>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordersSummary {
    live: usize,
    capacity: u64,
    in_use: u64,
}

pub async fn health(state: State) -> HttpResponse {
    let health = state.recorders.health().await;
    let (recorder, recorder_problem) = match health.recorder {
        RecorderHealth::Ok => ("ok", None),
        RecorderHealth::Unreachable => ("unreachable", None),
        RecorderHealth::KeyRefused => (
            "unreachable",
            Some(
                "the recorder refuses the gateway's internal key: give both services the same MEMHARBOR_SECRET_KEY",
            ),
        ),
    };
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        recorder,
        recorder_problem,
        recorders: health
            .cluster
            .map(|(live, capacity, in_use)| RecordersSummary {
                live,
                capacity,
                in_use,
            }),
    })
}
