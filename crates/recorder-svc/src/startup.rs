//! Building the recorder: sweep what a killed run left, recover its recordings, start the browser
//! pool, bind the internal API and the loopback page server, and run until a signal.
//!
//! SIGTERM stops accepting work and finishes every recording (`stopReason: "shutdown"`) before the
//! process exits. SIGINT aborts quickly; the journals it leaves are recovered at the next start.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

use crate::browser::{self, BrowserConfig, BrowserPool};
use crate::cluster::Cluster;
use crate::continuity::Continuity;
use crate::gateway_client::GatewayClient;
use crate::metrics::Metrics;
use crate::page_server::{self, PageAssets};
use crate::routes::{self, RecorderState};
use crate::session::{SessionContext, SessionSettings, Sessions};
use crate::settings::Settings;
use crate::storage::firebase::{Firebase, UploadQueue};
use crate::storage::{RecordIndex, Store};
use crate::webhooks::{Events, Webhooks};
use memharbor_shared::internal_auth;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("Firebase: {0}")]
    Firebase(String),
    #[error("{what} {path}: {source}")]
    Files {
        what: &'static str,
        path: String,
        source: io::Error,
    },
}

/// Folders under `RECORDER_RECORDINGS_DIR` that hold the recorder's state.
#[derive(Debug, Clone)]
pub struct StateDirs {
    pub root: PathBuf,
    pub index: PathBuf,
    pub journal: PathBuf,
    pub browsers: PathBuf,
}

impl StateDirs {
    pub fn new(recordings_dir: &std::path::Path) -> Self {
        let root = recordings_dir.join(".memharbor");
        Self {
            index: root.join("index"),
            journal: root.join("sessions"),
            browsers: root.clone(),
            root,
        }
    }
}

/// A bound, not yet running recorder.
pub struct Application {
    port: u16,
    page_port: u16,
    server: Server,
    page_server: Server,
    sessions: Sessions,
    pool: BrowserPool,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("page_port", &self.page_port)
            .finish_non_exhaustive()
    }
}

fn bind(addr: std::net::SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let e = |source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(e)?;
    let port = listener.local_addr().map_err(e)?.port();
    Ok((listener, port))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let dirs = StateDirs::new(&settings.recordings_dir);
        for (what, dir) in [
            ("recordings folder", &settings.recordings_dir),
            ("state folder", &dirs.journal),
        ] {
            std::fs::create_dir_all(dir).map_err(|source| StartupError::Files {
                what,
                path: dir.display().to_string(),
                source,
            })?;
        }
        let killed =
            browser::sweep_leftovers(&dirs.browsers.join("browsers"), &dirs.root.join("profiles"));
        if killed > 0 {
            tracing::warn!(killed, "killed browsers left by a previous run");
        }
        let _ = std::fs::remove_dir_all(dirs.root.join("profiles"));
        let index =
            Arc::new(
                RecordIndex::load(&dirs.index).map_err(|source| StartupError::Files {
                    what: "recording index",
                    path: dirs.index.display().to_string(),
                    source,
                })?,
            );
        let sdk = std::fs::read(&settings.agora_sdk).map_err(|source| StartupError::Files {
            what: "Agora SDK file (RECORDER_AGORA_SDK)",
            path: settings.agora_sdk.display().to_string(),
            source,
        })?;
        let metrics = Arc::new(Metrics::default());
        if settings.cluster.is_some() && settings.firebase.is_none() {
            return Err(StartupError::Firebase(
                "cluster mode needs Firebase: the directory is in Firestore".into(),
            ));
        }
        let events = match &settings.webhooks {
            None => Events::default(),
            Some(webhooks) => {
                let dir = dirs.root.join("webhooks");
                let started = Webhooks::start(webhooks, &dir, metrics.webhooks.clone()).map_err(
                    |source| StartupError::Files {
                        what: "webhook outbox",
                        path: dir.display().to_string(),
                        source,
                    },
                )?;
                tracing::info!(
                    endpoints = webhooks.urls.len(),
                    "recording events go to webhooks"
                );
                Events::new(Some(started))
            }
        };
        let mut cluster = None;
        let store = match &settings.firebase {
            None => Store::local(Arc::clone(&index)),
            Some(fb) => {
                let firebase = Firebase::connect(fb)
                    .await
                    .map_err(StartupError::Firebase)?;
                if let Some(member) = &settings.cluster {
                    cluster = Some(Arc::new(Cluster::new(
                        member.clone(),
                        firebase.firestore.client().clone(),
                        settings.max_sessions,
                        metrics.cluster.clone(),
                    )));
                }
                let queue = UploadQueue::load(
                    &dirs.root.join("uploads"),
                    &settings.recordings_dir,
                    firebase.clone(),
                    Arc::clone(&index),
                    fb.keep_local,
                    metrics.upload_failures.clone(),
                    events.clone(),
                )
                .map_err(|source| StartupError::Files {
                    what: "upload queue",
                    path: dirs.root.join("uploads").display().to_string(),
                    source,
                })?;
                tracing::info!(
                    project = fb.project_id,
                    bucket = fb.bucket,
                    "recordings go to Firebase"
                );
                Store::firebase(
                    Arc::clone(&index),
                    queue,
                    Arc::clone(&firebase.firestore),
                    fb.upload_wait,
                )
            }
        };
        let recovered = crate::recovery::recover(
            &dirs.journal,
            &settings.recordings_dir,
            &store,
            &events,
            cluster.is_some(),
        )
        .await;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "recordings left by a crash were repaired and listed"
            );
        }
        // Only now: recovery has queued what it found, and a job is never worked on twice.
        if let Some(queue) = store.uploads() {
            queue.start_workers();
        }

        let (page_listener, page_port) = bind(settings.page_addr)?;
        let (lost_tx, mut lost_rx) = mpsc::unbounded_channel();
        let pool = BrowserPool::start(
            BrowserConfig {
                binary: settings.chromium.clone(),
                extra_args: settings.chromium_extra_args.clone(),
                state_dir: dirs.root.clone(),
                tabs_per_browser: settings.sessions_per_browser,
                sandbox: settings.chromium_sandbox,
            },
            lost_tx,
            metrics.browsers.clone(),
        );
        let internal_key = internal_auth::derive_key(settings.secret_key.expose_secret());
        let continuity = cluster.as_ref().map(|cluster| {
            Arc::new(Continuity::new(
                Arc::clone(cluster),
                settings.recordings_dir.clone(),
                internal_key.clone(),
            ))
        });
        let mut context = SessionContext::new(
            SessionSettings {
                recordings_dir: settings.recordings_dir.clone(),
                journal_dir: dirs.journal.clone(),
                page_base: format!("http://127.0.0.1:{page_port}"),
                max_sessions: settings.max_sessions,
                join_timeout: settings.join_timeout,
                idle_timeout: settings.idle_timeout,
                max_duration: settings.max_duration,
                channel_mode: settings.channel_mode,
                client_role: settings.client_role,
                audio_cushion_ms: settings.audio_cushion_ms,
                min_free_bytes: settings.min_free_mb * 1024 * 1024,
            },
            pool.clone(),
            store.clone(),
            GatewayClient::new(&settings.gateway_url, internal_key.clone()),
            tokio::runtime::Handle::current(),
            Arc::clone(&metrics),
            cluster.clone(),
        )
        .with_events(events.clone());
        if let Some(continuity) = &continuity {
            context = context.with_continuity(Arc::clone(continuity));
        }
        let sessions = Sessions::new(context);
        if let (Some(cluster), Some(continuity)) = (&cluster, &continuity) {
            // Registered before serving, when the directory is there: starts need a current
            // heartbeat (and are refused with 503 until the directory answers).
            cluster.beat(&sessions).await;
            tracing::info!(
                id = cluster.id(),
                "cluster mode: registered in the directory"
            );
            let held: Arc<dyn crate::cluster::HeldSessions> = Arc::new(sessions.clone());
            tokio::spawn(Arc::clone(cluster).run(Arc::clone(&held)));
            // Journals of sessions that held a claim: decided with the directory (another
            // recorder may have continued them); assemblies left pending are taken up again.
            tokio::spawn(crate::continuity::recover::recover_leased(
                Arc::clone(continuity),
                held,
                dirs.journal.clone(),
                settings.recordings_dir.clone(),
                store.clone(),
                events.clone(),
            ));
            continuity.resume_pending(&store);
        }
        let routed = sessions.clone();
        tokio::spawn(async move {
            while let Some(lost) = lost_rx.recv().await {
                routed.tab_lost(lost);
            }
        });

        let page_server = page_server::serve(
            page_listener,
            sessions.clone(),
            PageAssets { sdk: sdk.into() },
        )
        .map_err(|source| StartupError::Bind {
            addr: settings.page_addr.to_string(),
            source,
        })?;
        let (listener, port) = bind(settings.http_addr)?;
        let state = web::Data::new(RecorderState {
            sessions: sessions.clone(),
            store,
            pool: pool.clone(),
            recordings_dir: settings.recordings_dir.clone(),
            internal_key,
            drills: settings.drills,
            max_sessions: settings.max_sessions,
            started: Instant::now(),
            metrics,
            cluster,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(64 * 1024))
                .configure(routes::configure)
                .wrap(from_fn(routes::require_internal_key))
                .wrap(from_fn(routes::track_requests))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.http_addr.to_string(),
            source,
        })?
        .run();
        tracing::info!(addr = %settings.http_addr, port, page_port, chromium = %settings.chromium.display(), "recorder-svc listening");
        Ok(Self {
            port,
            page_port,
            server,
            page_server,
            sessions,
            pool,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn page_port(&self) -> u16 {
        self.page_port
    }

    /// A handle tests (and `run_until_stopped`) use to stop the recorder.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            sessions: self.sessions.clone(),
            pool: self.pool.clone(),
            server: self.server.handle(),
            page_server: self.page_server.handle(),
        }
    }

    /// Serves until SIGTERM (graceful: recordings finished) or SIGINT (quick abort).
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let handle = self.shutdown_handle();
        // Both servers run as tasks: stopping them needs them polled while we wait.
        tokio::spawn(self.page_server);
        let mut server = tokio::spawn(self.server);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = &mut server => return result.unwrap_or_else(|e| Err(io::Error::other(e))),
            _ = term.recv() => {
                tracing::info!("SIGTERM: finishing every recording before exiting");
                handle.graceful().await;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::warn!("SIGINT: aborting; unfinished recordings are recovered at the next start");
                handle.abort().await;
            }
        }
        server.await.unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

/// Stops a running recorder.
#[derive(Clone)]
pub struct ShutdownHandle {
    sessions: Sessions,
    pool: BrowserPool,
    server: ServerHandle,
    page_server: ServerHandle,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShutdownHandle")
    }
}

impl ShutdownHandle {
    /// Refuse new sessions, finish every recording, close the browsers, stop serving.
    pub async fn graceful(&self) {
        self.sessions.shutdown().await;
        self.pool.shutdown().await;
        self.page_server.stop(false).await;
        self.server.stop(true).await;
    }

    /// End everything now; files stay repairable.
    pub async fn abort(&self) {
        self.sessions.abort().await;
        self.pool.shutdown().await;
        self.page_server.stop(false).await;
        self.server.stop(false).await;
    }
}
