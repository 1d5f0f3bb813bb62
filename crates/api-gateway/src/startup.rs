//! Building the application: bind the listener, assemble shared state, run until stopped.

use std::future::{Ready, ready};
use std::io;
use std::net::TcpListener;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::dev::{Payload, Server};
use actix_web::{App, FromRequest, HttpRequest, HttpServer, web};
use agora_token::RtcTokenBuilder;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use crate::api_log::{ApiLog, ApiLogGuard};
use crate::gate::Gate;
use crate::recorder_client::RecorderClient;
use crate::routes;
use crate::settings::Settings;

/// What every handler shares, reached through [`State`].
#[derive(Debug)]
pub struct AppState {
    pub tokens: RtcTokenBuilder,
    pub api_log: ApiLog,
    pub api_keys: Arc<[SecretString]>,
    pub trusted_proxies: Vec<IpNet>,
    pub recorder: RecorderClient,
    /// The recording bot's uid and the longest recording (its token outlives it).
    pub recorder_uid: u32,
    pub recorder_max_duration_s: u32,
    /// What the recorder presents on `/internal/*` routes of the gateway.
    pub internal_key: String,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The handlers' extractor for [`AppState`]. Each worker holds its own `Rc` to the one shared
/// state, so taking it per request is a plain increment: `web::Data`'s atomic count on a cache
/// line both workers write cost the token route measurably (bench/README.md).
#[derive(Clone, Debug)]
pub struct State(
    #[expect(
        clippy::redundant_allocation,
        reason = "the Rc is this worker's own: cloning it per request is not an atomic on a line the other workers write"
    )]
    Rc<Arc<AppState>>,
);

impl State {
    fn for_worker(state: &Arc<AppState>) -> Self {
        State(Rc::new(Arc::clone(state)))
    }
}

impl Deref for State {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl FromRequest for State {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Registered for every worker in `Application::build`, as `web::Data` would be.
        ready(req.app_data::<State>().cloned().ok_or_else(|| {
            tracing::error!("the gateway's state is not registered with the app");
            actix_web::error::ErrorInternalServerError("state not configured")
        }))
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot open the request log in {dir}: {source}")]
    ApiLog { dir: String, source: io::Error },
    #[error("cannot create the HTTP client for the recorder: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// A bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    _api_log: ApiLogGuard,
}

impl Application {
    /// Binds `settings.http_addr` (port 0 = any free port) and prepares the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(settings.http_addr).map_err(|source| StartupError::Bind {
                addr: settings.http_addr.to_string(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: settings.http_addr.to_string(),
                source,
            })?
            .port();
        let (api_log, api_log_guard) = ApiLog::open(&settings.log_dir, settings.log_rotation)
            .map_err(|source| StartupError::ApiLog {
                dir: settings.log_dir.display().to_string(),
                source,
            })?;
        let state = Arc::new(AppState {
            tokens: RtcTokenBuilder::new(
                settings.agora.token_version,
                settings.agora.app_id.clone(),
                settings.agora.app_cert.clone(),
            ),
            api_log,
            api_keys: settings.api_keys.clone().into(),
            trusted_proxies: settings.trusted_proxies.clone(),
            recorder: RecorderClient::new(
                &settings.recorder.url,
                settings.secret_key.expose_secret(),
                settings.recorder.timeout,
            )?,
            recorder_uid: settings.recorder.uid,
            recorder_max_duration_s: settings.recorder.max_duration_s,
            internal_key: memharbor_shared::internal_auth::derive_key(
                settings.secret_key.expose_secret(),
            ),
            metrics: Arc::default(),
        });

        let gate = Gate::new(state.api_keys.clone(), Arc::clone(&state.metrics));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(State::for_worker(&state))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
                .wrap(gate.clone())
        });
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                addr: settings.http_addr.to_string(),
                source,
            })?
            .run();
        tracing::info!(
            addr = %settings.http_addr,
            port,
            token_version = %settings.agora.token_version,
            api_keys = settings.api_keys.len(),
            "api-gateway listening"
        );
        Ok(Self {
            port,
            server,
            _api_log: api_log_guard,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
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
