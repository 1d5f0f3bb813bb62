//! Starting one browser (its process, its DevTools link, the watchers that report its crashes
//! and death) and opening one tab in it. Both run as tasks, off the pool's actor: a launch can take
//! seconds, and nothing else in the pool waits for it.

use std::collections::HashMap;
use std::sync::Arc;

use chromiumoxide::cdp::browser_protocol::{network as cdp_network, target as cdp_target};
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Page};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::process::{self, ChromiumProcess};
use super::{BrowserConfig, BrowserError, Internal, args};
use crate::metrics::BrowserCounters;

/// One running browser and its tabs.
pub(super) struct Slot {
    pub id: u64,
    pub process: ChromiumProcess,
    pub browser: Arc<Browser>,
    pub tabs: HashMap<Uuid, Page>,
    /// Tabs being opened in it (they count against its room).
    pub opening: usize,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts browser `id` (with or without the sandbox) and connects to it.
pub(super) async fn launch(
    config: &BrowserConfig,
    id: u64,
    sandbox: bool,
    internal: mpsc::UnboundedSender<Internal>,
    counters: BrowserCounters,
) -> Result<Slot, BrowserError> {
    let profile = config
        .state_dir
        .join("profiles")
        .join(format!("{}-{id}", std::process::id()));
    let args = args::command_line(&profile, &config.extra_args, sandbox);
    let (process, ws_url, mut pipe_over) = process::launch(
        &config.binary,
        &args,
        &profile,
        &config.state_dir.join("browsers"),
        counters,
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
    let handler_internal = internal.clone();
    let handler_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                event = handler.next() => match event {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        tracing::warn!(browser = id, error = %e, "lost the connection to Chromium");
                        break;
                    }
                    None => break,
                },
                _ = &mut pipe_over => {
                    tracing::warn!(browser = id, "the DevTools link to Chromium ended");
                    break;
                }
            }
        }
        let _ = handler_internal.send(Internal::Died { browser: id });
    });
    let mut tasks = vec![handler_task];
    match browser
        .event_listener::<cdp_target::EventTargetCrashed>()
        .await
    {
        Ok(mut crashes) => {
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
    Ok(Slot {
        id,
        process,
        browser: Arc::new(browser),
        tabs: HashMap::new(),
        opening: 0,
        tasks,
    })
}

/// A tab on `url` whose page finds `key` in `window.__memharborKey`. The tab starts blank: the
/// Network domain chromiumoxide enables is switched off first (with it, Chromium copies every
/// WebSocket frame, i.e. all the audio, base64 over DevTools), then the key is set for the next
/// document, then the page loads.
pub(super) async fn open_page(
    browser: &Browser,
    url: &str,
    key: &str,
) -> Result<Page, BrowserError> {
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
