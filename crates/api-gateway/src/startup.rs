//! Building the application: bind the listener, assemble shared state, run until stopped.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use agora_token::RtcTokenBuilder;
use secrecy::ExposeSecret;

use crate::auth::firebase::FirebaseVerifier;
use crate::auth::limits::Limits;
use crate::auth::{AuthModes, Authenticator};
use crate::middleware::api_log::{ApiLog, ApiLogGuard};
use crate::middleware::gate::Gate;
use crate::recorder_client::RecorderClient;
use crate::recorders::{ClusterView, Recorders};
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot open the request log in {dir}: {source}")]
    ApiLog { dir: String, source: io::Error },
    #[error("cannot create the HTTP client for the recorder: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("cluster mode: cannot reach the directory's Firestore: {0}")]
    Directory(String),
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
        let modes = AuthModes {
            keys: !settings.api_keys.is_empty(),
            firebase: settings.auth.firebase.is_some(),
        };
        let verifier = settings
            .auth
            .firebase
            .clone()
            .map(FirebaseVerifier::new)
            .transpose()?;
        if settings.auth.firebase.as_ref().is_some_and(|f| f.emulator) {
            tracing::warn!(
                "FIREBASE_AUTH_EMULATOR_HOST is set: unsigned Auth emulator tokens are accepted; never in production"
            );
        }
        let authenticator = Arc::new(Authenticator::new(
            modes,
            settings.api_keys.clone().into(),
            verifier,
        ));
        let limits = Limits::new(settings.auth.limits);
        let metrics: Arc<crate::metrics::Metrics> = Arc::default();
        let client = RecorderClient::new(
            settings.secret_key.expose_secret(),
            settings.recorder.timeout,
        )?;
        let recorders = match &settings.cluster {
            None => Recorders::single(client, &settings.recorder.url, Arc::clone(&metrics)),
            Some(cluster) => {
                let firestore = memharbor_google::firestore::Firestore::connect(&cluster.firestore)
                    .await
                    .map_err(StartupError::Directory)?
                    .with_timeout(std::time::Duration::from_secs(5));
                tracing::info!(
                    project = cluster.firestore.project_id,
                    "cluster mode: recorders are found in the directory"
                );
                Recorders::cluster(
                    client,
                    ClusterView::new(
                        memharbor_directory::Directory::new(firestore, cluster.lease),
                        Arc::clone(&metrics),
                    ),
                    Arc::clone(&metrics),
                )
            }
        };
        let state = web::Data::new(AppState {
            tokens: RtcTokenBuilder::new(
                settings.agora.token_version,
                settings.agora.app_id.clone(),
                settings.agora.app_cert.clone(),
            ),
            api_log,
            auth: Arc::clone(&authenticator),
            access: settings.auth.rules,
            limits,
            trusted_proxies: settings.trusted_proxies.clone(),
            recorders,
            recorder_uid: settings.recorder.uid,
            recorder_max_duration_s: settings.recorder.max_duration_s,
            internal_key: memharbor_shared::internal_auth::derive_key(
                settings.secret_key.expose_secret(),
            ),
            metrics,
        });

        // Users' idle rate-limit buckets are forgotten now and then (bounded memory).
        let forgetting = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                forgetting.limits.forget_idle();
            }
        });
        let gate = Gate::new(authenticator, Arc::clone(&state.metrics));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
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
            firebase_auth = modes.firebase,
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
