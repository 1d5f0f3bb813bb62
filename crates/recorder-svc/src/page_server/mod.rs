//! The recorder page, served on loopback only: the HTML, the recorder script, the capture worker,
//! the Agora SDK file (`RECORDER_AGORA_SDK`), and the WebSocket each page streams its audio and
//! events over. Tabs reach it at `http://127.0.0.1:<port>`; nothing else should.

mod socket;

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, HttpServer, dev::Server};
use std::net::TcpListener;

use crate::session::Sessions;

const HTML: &str = include_str!("../../web/recorder/recorder.html");
const RECORDER_JS: &str = include_str!("../../web/recorder/recorder.js");
const CAPTURE_JS: &str = include_str!("../../web/recorder/capture.js");

/// What the page server serves besides its built-in files.
#[derive(Debug, Clone)]
pub struct PageAssets {
    /// The Agora Web SDK (or, in tests, its stand-in).
    pub sdk: Bytes,
}

fn javascript(body: impl Into<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .body(body.into())
}

async fn html() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .body(HTML)
}

async fn recorder_js() -> HttpResponse {
    javascript(RECORDER_JS)
}

async fn capture_js() -> HttpResponse {
    javascript(CAPTURE_JS)
}

async fn sdk(assets: web::Data<PageAssets>) -> HttpResponse {
    javascript(assets.sdk.clone())
}

/// Starts the page server on `listener` (bind it to loopback).
pub fn serve(
    listener: TcpListener,
    sessions: Sessions,
    assets: PageAssets,
) -> std::io::Result<Server> {
    let sessions = web::Data::new(sessions);
    let assets = web::Data::new(assets);
    Ok(HttpServer::new(move || {
        actix_web::App::new()
            .app_data(sessions.clone())
            .app_data(assets.clone())
            .route("/session/{sid}", web::get().to(html))
            .route("/assets/recorder.js", web::get().to(recorder_js))
            .route("/assets/capture.js", web::get().to(capture_js))
            .route("/assets/agora-sdk.js", web::get().to(sdk))
            .route("/ws/{sid}", web::get().to(socket::connect))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run())
}
