//! Benchmark reference, not part of the product: a bare actix-web handler that only parses the
//! token request's JSON and answers a fixed body. `bench/http.sh` runs it beside the gateway.
//!
//! Usage: `bare_handler 127.0.0.1:18002`

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)] // parsed, never read: the point is the parsing cost
struct TokenRequest {
    channel: String,
    uid: Option<u64>,
    user_account: Option<String>,
    role: Option<String>,
    expire: Option<u64>,
}

const FIXED: &str = r#"{"token":"006970CA35de60c44645bbae8a215061b33IACmo0dsuk9bAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","expire_at":1770260182,"expire_in":86400}"#;

async fn token(_: web::Json<TokenRequest>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(FIXED)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18002".to_owned());
    HttpServer::new(|| App::new().route("/api/token", web::post().to(token)))
        .bind(addr)?
        .run()
        .await
}
