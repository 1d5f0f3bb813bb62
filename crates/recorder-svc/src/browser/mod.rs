//! Headless Chromium: a pool of browsers, one tab per session. The only module that uses
//! `chromiumoxide` (and the only one that starts Chromium).
//!
//! An actor task (`actor`) owns every browser and tab, so opening, closing and crash handling
//! never race; the slow steps (launching a browser, opening a tab: `launch`) run as tasks that
//! report back, so one slow launch never holds up another session's close or crash handling.
//! A tab that crashes or a browser that dies becomes a [`TabLost`] event for its session, which
//! reopens a tab (a new browser is launched when needed) and rejoins; the recording goes on.

mod actor;
mod args;
mod cdp_pipe;
mod launch;
mod process;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chromiumoxide::Page;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use args::{BUILT_IN as SWITCHES, parse_extra};
pub use process::sweep_leftovers;

use actor::Actor;
use launch::Slot;

use crate::metrics::BrowserCounters;

/// How long opening a tab (and loading the recorder page) may take.
const OPEN_TAB_TIMEOUT: Duration = Duration::from_secs(15);
/// How long closing a tab may take before we stop waiting.
const CLOSE_TAB_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot launch Chromium: {0}")]
    Launch(String),
    #[error("Chromium refused: {0}")]
    Cdp(String),
    #[error("Chromium did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("the browser pool has shut down")]
    Gone,
}

/// Whether Chromium's renderers run in its sandbox (`RECORDER_CHROMIUM_SANDBOX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// On where it works: off as root (Chromium refuses it there); otherwise tried, and if
    /// Chromium cannot start with it (a container that forbids user namespaces), off with a
    /// warning. `/status` says which.
    Auto,
    /// Always on: a browser that cannot start with it is an error.
    On,
    Off,
}

/// How browsers are started.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    pub binary: PathBuf,
    /// Operator's extra switches (already parsed).
    pub extra_args: Vec<String>,
    /// Profiles and pid files live here.
    pub state_dir: PathBuf,
    pub tabs_per_browser: usize,
    pub sandbox: SandboxMode,
}

/// A session's tab is gone (crashed, or its browser died).
#[derive(Debug, Clone)]
pub struct TabLost {
    pub sid: Uuid,
    pub reason: &'static str,
}

/// One browser, for `/status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserStatus {
    pub id: u64,
    pub pid: u32,
    pub sessions: Vec<Uuid>,
}

/// Pool-wide counters, for `/status` and metrics.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub browsers: Vec<BrowserStatus>,
    pub browsers_launched: u64,
    pub browser_deaths: u64,
    pub tab_crashes: u64,
    /// Whether the renderers are sandboxed (known once a browser has started).
    pub sandbox: Option<bool>,
}

enum Cmd {
    Open {
        sid: Uuid,
        url: String,
        key: String,
        reply: oneshot::Sender<Result<(), BrowserError>>,
    },
    Close {
        sid: Uuid,
        reply: oneshot::Sender<()>,
    },
    CrashTab {
        sid: Uuid,
        reply: oneshot::Sender<bool>,
    },
    KillBrowserOf {
        sid: Uuid,
        reply: oneshot::Sender<bool>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What the pool's own tasks report to its actor.
enum Internal {
    Crashed {
        browser: u64,
        target: String,
    },
    Died {
        browser: u64,
    },
    Launched {
        id: u64,
        sandbox: bool,
        result: Result<Box<Slot>, BrowserError>,
    },
    TabOpened {
        sid: Uuid,
        generation: u64,
        browser: u64,
        result: Result<Page, BrowserError>,
        reply: oneshot::Sender<Result<(), BrowserError>>,
    },
}

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct BrowserPool {
    tx: mpsc::UnboundedSender<Cmd>,
    status: Arc<Mutex<PoolStatus>>,
}

impl std::fmt::Debug for BrowserPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool").finish_non_exhaustive()
    }
}

impl BrowserPool {
    /// Starts the pool's actor on the current runtime. Call from a long-lived runtime (see
    /// `process::launch`). Lost tabs are reported on `lost`.
    pub fn start(
        config: BrowserConfig,
        lost: mpsc::UnboundedSender<TabLost>,
        counters: BrowserCounters,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(PoolStatus::default()));
        let (itx, irx) = mpsc::unbounded_channel();
        let actor = Actor::new(config, lost, itx, Arc::clone(&status), counters);
        tokio::spawn(actor.run(rx, irx));
        Self { tx, status }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Cmd,
    ) -> Result<T, BrowserError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| BrowserError::Gone)?;
        answer.await.map_err(|_| BrowserError::Gone)
    }

    /// Opens a tab for `sid` on `url` (in a browser with room, launching one if needed). The page
    /// finds `key` in `window.__memharborKey`, set before its first script runs: the key is never
    /// part of a URL (URLs show in tab lists and logs).
    pub async fn open_tab(&self, sid: Uuid, url: String, key: String) -> Result<(), BrowserError> {
        self.ask(|reply| Cmd::Open {
            sid,
            url,
            key,
            reply,
        })
        .await?
    }

    /// Closes `sid`'s tab, if it has one.
    pub async fn close_tab(&self, sid: Uuid) {
        let _ = self.ask(|reply| Cmd::Close { sid, reply }).await;
    }

    /// Crashes `sid`'s tab's renderer (CDP `Page.crash`), for tests and drills.
    pub async fn crash_tab(&self, sid: Uuid) -> bool {
        self.ask(|reply| Cmd::CrashTab { sid, reply })
            .await
            .unwrap_or(false)
    }

    /// Kills the browser process hosting `sid` (SIGKILL), for tests and drills.
    pub async fn kill_browser_of(&self, sid: Uuid) -> bool {
        self.ask(|reply| Cmd::KillBrowserOf { sid, reply })
            .await
            .unwrap_or(false)
    }

    /// Closes every tab and kills every browser.
    pub async fn shutdown(&self) {
        let _ = self.ask(|reply| Cmd::Shutdown { reply }).await;
    }

    pub fn status(&self) -> PoolStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
