//! `GET /metrics`: Prometheus metrics (OpenMetrics text). Outside `/api`: nginx never forwards it.

use actix_web::HttpResponse;

use crate::state::State;

pub async fn metrics(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}
