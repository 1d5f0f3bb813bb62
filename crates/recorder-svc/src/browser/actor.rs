//! The pool's actor: the one owner of every browser and tab. It never waits for a browser to start
//! or a tab to open (those run as tasks and report back as [`Internal`] events); opens that need a
//! browser not yet running wait in a queue for its launch.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::page as cdp_page;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::launch::{self, Slot, open_page};
use super::{
    BrowserConfig, BrowserError, BrowserStatus, CLOSE_TAB_TIMEOUT, Cmd, Internal, OPEN_TAB_TIMEOUT,
    PoolStatus, SandboxMode, TabLost,
};
use crate::metrics::BrowserCounters;

/// An open waiting for a browser with room.
struct Waiting {
    sid: Uuid,
    url: String,
    key: String,
    reply: oneshot::Sender<Result<(), BrowserError>>,
}

pub(super) struct Actor {
    config: Arc<BrowserConfig>,
    /// Whether browsers get the sandbox; `None` until the first launch in auto mode tells.
    sandbox: Option<bool>,
    slots: Vec<Slot>,
    next_id: u64,
    /// The browser being launched, if any.
    launching: Option<u64>,
    waiting: VecDeque<Waiting>,
    /// Tabs being opened: sid → generation (a close, or a newer open, makes it stale).
    opening: HashMap<Uuid, u64>,
    next_generation: u64,
    lost: mpsc::UnboundedSender<TabLost>,
    internal: mpsc::UnboundedSender<Internal>,
    status: Arc<Mutex<PoolStatus>>,
    counters: BrowserCounters,
}

impl Actor {
    pub(super) fn new(
        config: BrowserConfig,
        lost: mpsc::UnboundedSender<TabLost>,
        internal: mpsc::UnboundedSender<Internal>,
        status: Arc<Mutex<PoolStatus>>,
        counters: BrowserCounters,
    ) -> Self {
        Self {
            sandbox: match config.sandbox {
                SandboxMode::Off => Some(false),
                SandboxMode::On => Some(true),
                SandboxMode::Auto if rustix::process::geteuid().is_root() => Some(false),
                SandboxMode::Auto => None,
            },
            config: Arc::new(config),
            slots: Vec::new(),
            next_id: 1,
            launching: None,
            waiting: VecDeque::new(),
            opening: HashMap::new(),
            next_generation: 1,
            lost,
            internal,
            status,
            counters,
        }
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Cmd>,
        mut irx: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Open { sid, url, key, reply }) => {
                        self.close(sid);
                        self.waiting.push_back(Waiting { sid, url, key, reply });
                        self.serve_waiting();
                    }
                    Some(Cmd::Close { sid, reply }) => {
                        self.close(sid);
                        let _ = reply.send(());
                    }
                    Some(Cmd::CrashTab { sid, reply }) => {
                        let _ = reply.send(self.crash_tab(sid));
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
                    Internal::Crashed { browser, target } => self.tab_crashed(browser, &target),
                    Internal::Died { browser } => self.browser_died(browser).await,
                    Internal::Launched { id, sandbox, result } => self.launched(id, sandbox, result),
                    Internal::TabOpened { sid, generation, browser, result, reply } => {
                        self.tab_opened(sid, generation, browser, result, reply);
                    }
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

    /// Starts the opens that have a browser with room; launches one for the rest.
    fn serve_waiting(&mut self) {
        let cap = self.config.tabs_per_browser.max(1);
        while let Some(waiting) = self.waiting.pop_front() {
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.tabs.len() + s.opening < cap)
            else {
                self.waiting.push_front(waiting);
                if self.launching.is_none() {
                    self.start_launch(self.sandbox.unwrap_or(true));
                }
                return;
            };
            let generation = self.next_generation;
            self.next_generation += 1;
            self.opening.insert(waiting.sid, generation);
            slot.opening += 1;
            let (browser, id) = (Arc::clone(&slot.browser), slot.id);
            let internal = self.internal.clone();
            tokio::spawn(async move {
                let Waiting {
                    sid,
                    url,
                    key,
                    reply,
                } = waiting;
                let result =
                    tokio::time::timeout(OPEN_TAB_TIMEOUT, open_page(&browser, &url, &key))
                        .await
                        .unwrap_or(Err(BrowserError::Timeout("opening a tab")));
                let _ = internal.send(Internal::TabOpened {
                    sid,
                    generation,
                    browser: id,
                    result,
                    reply,
                });
            });
        }
    }

    fn start_launch(&mut self, sandbox: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.launching = Some(id);
        let (config, internal, counters) = (
            Arc::clone(&self.config),
            self.internal.clone(),
            self.counters.clone(),
        );
        // A task on the runtime: its thread outlives the browser (see `process::launch`).
        tokio::spawn(async move {
            let result = launch::launch(&config, id, sandbox, internal.clone(), counters)
                .await
                .map(Box::new);
            let _ = internal.send(Internal::Launched {
                id,
                sandbox,
                result,
            });
        });
    }

    fn launched(&mut self, id: u64, sandbox: bool, result: Result<Box<Slot>, BrowserError>) {
        if self.launching == Some(id) {
            self.launching = None;
        }
        // A browser that died between its start and this event (its death, reported first, found
        // no slot) must not join the pool: every open would be sent to it.
        if let Ok(slot) = &result
            && slot.tasks.first().is_some_and(|t| t.is_finished())
        {
            let Ok(slot) = result else { return };
            let slot = *slot;
            for task in &slot.tasks {
                task.abort();
            }
            tokio::spawn(slot.process.kill());
            tracing::error!(browser = id, "Chromium exited as soon as it started");
            let e = BrowserError::Launch("Chromium exited as soon as it started".into());
            for waiting in self.waiting.drain(..) {
                let _ = waiting.reply.send(Err(e.clone()));
            }
            return;
        }
        match result {
            Ok(slot) => {
                self.sandbox.get_or_insert(sandbox);
                tracing::info!(
                    browser = id,
                    pid = slot.process.pid(),
                    sandbox,
                    "Chromium started"
                );
                {
                    let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
                    status.browsers_launched += 1;
                    status.sandbox = Some(sandbox);
                }
                self.counters.launched.inc();
                self.slots.push(*slot);
                self.serve_waiting();
            }
            Err(e) if sandbox && self.sandbox.is_none() => {
                tracing::warn!(error = %e, "Chromium cannot start with its sandbox here (a container without user namespaces?); running it without (RECORDER_CHROMIUM_SANDBOX=on refuses that)");
                self.sandbox = Some(false);
                self.start_launch(false);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot launch Chromium");
                for waiting in self.waiting.drain(..) {
                    let _ = waiting.reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn tab_opened(
        &mut self,
        sid: Uuid,
        generation: u64,
        browser: u64,
        result: Result<chromiumoxide::Page, BrowserError>,
        reply: oneshot::Sender<Result<(), BrowserError>>,
    ) {
        let slot = self.slots.iter_mut().find(|s| s.id == browser);
        let current = self.opening.get(&sid) == Some(&generation);
        if current {
            self.opening.remove(&sid);
        }
        let outcome = match (result, slot) {
            (Ok(page), Some(slot)) if current => {
                slot.opening = slot.opening.saturating_sub(1);
                slot.tabs.insert(sid, page);
                Ok(())
            }
            (Ok(page), slot) => {
                // Closed (or its browser died) while it opened: it is not wanted any more.
                if let Some(slot) = slot {
                    slot.opening = slot.opening.saturating_sub(1);
                }
                close_page(page);
                Err(BrowserError::Cdp(
                    "the tab was closed while it opened".into(),
                ))
            }
            (Err(e), slot) => {
                if let Some(slot) = slot {
                    slot.opening = slot.opening.saturating_sub(1);
                }
                Err(e)
            }
        };
        let _ = reply.send(outcome);
        self.serve_waiting();
    }

    /// Forgets `sid`'s tab: closed (in the background), an open in flight made stale, a waiting
    /// open dropped.
    fn close(&mut self, sid: Uuid) {
        self.opening.remove(&sid);
        let (dropped, kept): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|w| w.sid == sid);
        self.waiting = kept.into();
        for waiting in dropped {
            let _ = waiting.reply.send(Err(BrowserError::Cdp(
                "the tab was closed before it opened".into(),
            )));
        }
        for slot in &mut self.slots {
            if let Some(page) = slot.tabs.remove(&sid) {
                close_page(page);
            }
        }
    }

    fn crash_tab(&mut self, sid: Uuid) -> bool {
        let Some(page) = self.slots.iter().find_map(|s| s.tabs.get(&sid)).cloned() else {
            return false;
        };
        // Page.crash is never answered: don't wait for it.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_millis(300),
                page.execute(cdp_page::CrashParams::default()),
            )
            .await;
        });
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

    fn tab_crashed(&mut self, browser: u64, target: &str) {
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
            close_page(page);
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
        for waiting in self.waiting.drain(..) {
            let _ = waiting.reply.send(Err(BrowserError::Gone));
        }
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

/// Closes a tab without waiting for it (bounded, in the background).
fn close_page(page: chromiumoxide::Page) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSE_TAB_TIMEOUT, page.close()).await;
    });
}
