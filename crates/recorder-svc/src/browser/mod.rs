//! Headless Chromium: a pool of browsers, one tab per session. The only module that uses
//! `chromiumoxide` (and the only one that starts Chromium).
//!
//! An actor task owns every browser and tab, so opening, closing and crash handling never race.
//! A tab that crashes or a browser that dies becomes a [`TabLost`] event for its session, which
//! reopens a tab (a new browser is launched when needed) and rejoins; the recording goes on.

mod args;
mod cdp_pipe;
mod process;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::{
    network as cdp_network, page as cdp_page, target as cdp_target,
};
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Page};
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use args::parse_extra;
pub use process::sweep_leftovers;

use process::ChromiumProcess;

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

enum Internal {
    Crashed { browser: u64, target: String },
    Died { browser: u64 },
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
        let actor = Actor {
            sandbox: match config.sandbox {
                SandboxMode::Off => Some(false),
                SandboxMode::On => Some(true),
                SandboxMode::Auto if rustix::process::geteuid().is_root() => Some(false),
                SandboxMode::Auto => None,
            },
            config,
            slots: Vec::new(),
            next_id: 1,
            lost,
            internal: itx,
            status: Arc::clone(&status),
            counters,
        };
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

struct Slot {
    id: u64,
    process: ChromiumProcess,
    browser: Browser,
    tabs: HashMap<Uuid, Page>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Actor {
    config: BrowserConfig,
    /// Whether browsers get the sandbox; `None` until the first launch in auto mode tells.
    sandbox: Option<bool>,
    slots: Vec<Slot>,
    next_id: u64,
    lost: mpsc::UnboundedSender<TabLost>,
    internal: mpsc::UnboundedSender<Internal>,
    status: Arc<Mutex<PoolStatus>>,
    counters: BrowserCounters,
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Cmd>,
        mut irx: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Open { sid, url, key, reply }) => {
                        let result = self.open(sid, &url, &key).await;
                        let _ = reply.send(result);
                    }
                    Some(Cmd::Close { sid, reply }) => {
                        self.close(sid).await;
                        let _ = reply.send(());
                    }
                    Some(Cmd::CrashTab { sid, reply }) => {
                        let _ = reply.send(self.crash_tab(sid).await);
                    }
                    Some(Cmd::KillBrowserOf { sid, reply }) => {
                        let _ = reply.send(self.kill_browser_of(sid));
                    }
                    Some(Cmd::Shutdown { reply }) => {
                        self.shutdown().await;
                        let _ = reply.send(());
                        return;
                    }
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
                Some(event) = irx.recv() => match event {
                    Internal::Crashed { browser, target } => self.tab_crashed(browser, &target).await,
                    Internal::Died { browser } => self.browser_died(browser).await,
                },
            }
            self.publish_status();
        }
    }

    fn publish_status(&self) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        status.browsers = self
            .slots
            .iter()
            .map(|s| BrowserStatus {
                id: s.id,
                pid: s.process.pid(),
                sessions: s.tabs.keys().copied().collect(),
            })
            .collect();
    }

    async fn open(&mut self, sid: Uuid, url: &str, key: &str) -> Result<(), BrowserError> {
        self.close(sid).await;
        let cap = self.config.tabs_per_browser.max(1);
        let index = match self.slots.iter().position(|s| s.tabs.len() < cap) {
            Some(i) => i,
            None => {
                let slot = self.launch().await?;
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        let page = tokio::time::timeout(OPEN_TAB_TIMEOUT, open_page(&slot.browser, url, key))
            .await
            .map_err(|_| BrowserError::Timeout("opening a tab"))??;
        slot.tabs.insert(sid, page);
        Ok(())
    }

    /// Launches a browser, with the sandbox where it works (see [`SandboxMode`]).
    async fn launch(&mut self) -> Result<Slot, BrowserError> {
        match self.sandbox {
            Some(sandbox) => self.launch_with(sandbox).await,
            None => match self.launch_with(true).await {
                Ok(slot) => {
                    self.sandbox = Some(true);
                    Ok(slot)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Chromium cannot start with its sandbox here (a container without user namespaces?); running it without (RECORDER_CHROMIUM_SANDBOX=on refuses that)");
                    let slot = self.launch_with(false).await?;
                    self.sandbox = Some(false);
                    Ok(slot)
                }
            },
        }
    }

    async fn launch_with(&mut self, sandbox: bool) -> Result<Slot, BrowserError> {
        let id = self.next_id;
        self.next_id += 1;
        let profile = self
            .config
            .state_dir
            .join("profiles")
            .join(format!("{}-{id}", std::process::id()));
        let args = args::command_line(&profile, &self.config.extra_args, sandbox);
        let (process, ws_url) = process::launch(
            &self.config.binary,
            &args,
            &profile,
            &self.config.state_dir.join("browsers"),
            self.counters.clone(),
        )
        .await?;
        let config = HandlerConfig {
            viewport: None,
            ..HandlerConfig::default()
        };
        let (browser, mut handler) = match Browser::connect_with_config(ws_url, config).await {
            Ok(pair) => pair,
            Err(e) => {
                process.kill().await;
                return Err(BrowserError::Cdp(e.to_string()));
            }
        };
        let internal = self.internal.clone();
        let handler_task = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::warn!(browser = id, error = %e, "lost the connection to Chromium");
                    break;
                }
            }
            let _ = internal.send(Internal::Died { browser: id });
        });
        let mut tasks = vec![handler_task];
        match browser
            .event_listener::<cdp_target::EventTargetCrashed>()
            .await
        {
            Ok(mut crashes) => {
                let internal = self.internal.clone();
                tasks.push(tokio::spawn(async move {
                    while let Some(event) = crashes.next().await {
                        let target = event.target_id.inner().clone();
                        let _ = internal.send(Internal::Crashed {
                            browser: id,
                            target,
                        });
                    }
                }));
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch for tab crashes"),
        }
        tracing::info!(
            browser = id,
            pid = process.pid(),
            sandbox,
            "Chromium started"
        );
        {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            status.browsers_launched += 1;
            status.sandbox = Some(sandbox);
        }
        self.counters.launched.inc();
        Ok(Slot {
            id,
            process,
            browser,
            tabs: HashMap::new(),
            tasks,
        })
    }

    async fn close(&mut self, sid: Uuid) {
        for slot in &mut self.slots {
            if let Some(page) = slot.tabs.remove(&sid) {
                let _ = tokio::time::timeout(CLOSE_TAB_TIMEOUT, page.close()).await;
            }
        }
    }

    async fn crash_tab(&mut self, sid: Uuid) -> bool {
        let Some(page) = self.slots.iter().find_map(|s| s.tabs.get(&sid)).cloned() else {
            return false;
        };
        // Page.crash is never answered: don't wait for it.
        let _ = tokio::time::timeout(
            Duration::from_millis(300),
            page.execute(cdp_page::CrashParams::default()),
        )
        .await;
        true
    }

    fn kill_browser_of(&mut self, sid: Uuid) -> bool {
        match self.slots.iter().find(|s| s.tabs.contains_key(&sid)) {
            Some(slot) => {
                slot.process.signal_kill();
                true
            }
            None => false,
        }
    }

    async fn tab_crashed(&mut self, browser: u64, target: &str) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.id == browser) else {
            return;
        };
        let Some(sid) = slot
            .tabs
            .iter()
            .find(|(_, page)| page.target_id().inner() == target)
            .map(|(sid, _)| *sid)
        else {
            return;
        };
        if let Some(page) = slot.tabs.remove(&sid) {
            let _ = tokio::time::timeout(CLOSE_TAB_TIMEOUT, page.close()).await;
        }
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tab_crashes += 1;
        self.counters.tab_crashes.inc();
        tracing::warn!(%sid, browser, "a recording tab crashed");
        let _ = self.lost.send(TabLost {
            sid,
            reason: "tab crashed",
        });
    }

    async fn browser_died(&mut self, browser: u64) {
        let Some(index) = self.slots.iter().position(|s| s.id == browser) else {
            return;
        };
        let slot = self.slots.remove(index);
        for task in &slot.tasks {
            task.abort();
        }
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .browser_deaths += 1;
        self.counters.deaths.inc();
        tracing::warn!(
            browser,
            sessions = slot.tabs.len(),
            "Chromium exited; its sessions will rejoin"
        );
        for sid in slot.tabs.keys() {
            let _ = self.lost.send(TabLost {
                sid: *sid,
                reason: "browser exited",
            });
        }
        slot.process.kill().await;
    }

    async fn shutdown(&mut self) {
        for mut slot in self.slots.drain(..) {
            for (_, page) in slot.tabs.drain() {
                let _ = tokio::time::timeout(Duration::from_secs(2), page.close()).await;
            }
            for task in &slot.tasks {
                task.abort();
            }
            slot.process.kill().await;
        }
    }
}

/// A tab on `url` whose page finds `key` in `window.__memharborKey`. The tab starts blank: the
/// Network domain chromiumoxide enables is switched off first (with it, Chromium copies every
/// WebSocket frame, i.e. all the audio, base64 over DevTools), then the key is set for the next
/// document, then the page loads.
async fn open_page(browser: &Browser, url: &str, key: &str) -> Result<Page, BrowserError> {
    let cdp = |e: chromiumoxide::error::CdpError| BrowserError::Cdp(e.to_string());
    let page = browser.new_page("about:blank").await.map_err(cdp)?;
    let prepared = async {
        page.execute(cdp_network::DisableParams::default()).await?;
        let key = serde_json::to_string(key).unwrap_or_default();
        page.evaluate_on_new_document(format!("window.__memharborKey = {key};"))
            .await?;
        page.goto(url).await?;
        Ok::<_, chromiumoxide::error::CdpError>(())
    };
    match prepared.await {
        Ok(()) => Ok(page),
        Err(e) => {
            let _ = page.close().await;
            Err(cdp(e))
        }
    }
}
