//! Building the recorder: bind the listener, run until stopped.

use std::io;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
}

pub struct Application {
    port: u16,
    server: Server,
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let bind_err = |source| StartupError::Bind {
            addr: settings.http_addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(settings.http_addr).map_err(bind_err)?;
        let port = listener.local_addr().map_err(bind_err)?.port();
        let server = HttpServer::new(|| App::new().route("/livez", web::get().to(livez)))
            .listen(listener)
            .map_err(bind_err)?
            .run();
        tracing::info!(addr = %settings.http_addr, port, "recorder-svc listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}
