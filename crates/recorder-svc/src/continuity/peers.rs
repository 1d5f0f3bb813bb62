//! The other recorders, as this one calls them (internal API, the shared internal key): fetch a
//! segment they hold (streamed to disk), tell them it is no longer needed, ask one to continue a
//! session this recorder hands over.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt as _;
use memharbor_shared::internal_api::{HANDOVER, SEGMENTS};
use memharbor_shared::internal_auth;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;
use uuid::Uuid;

use super::segments::{SegmentMeta, SegmentStore, plain_name};

/// `POST /internal/handover`: continue session `sid`, held under `fencing` by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoverRequest {
    pub sid: Uuid,
    pub channel: String,
    pub fencing: u64,
    /// The participants the caller hears: the new recorder answers once it hears them too.
    #[serde(default)]
    pub publishing: Vec<String>,
}

/// The new owner records: its claim number, and the instant its audio starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoverAnswer {
    pub fencing: u64,
    pub start_ms: f64,
}

#[derive(Debug, Clone)]
pub struct Peers {
    http: reqwest::Client,
    key: String,
}

impl Peers {
    pub fn new(key: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self { http, key }
    }

    fn get(&self, url: String) -> reqwest::RequestBuilder {
        self.http.get(url).header(internal_auth::HEADER, &self.key)
    }

    /// Copies segment (`sid`, `fencing`) from the recorder at `base` into `store`.
    pub async fn fetch(
        &self,
        base: &str,
        sid: Uuid,
        fencing: u64,
        store: &SegmentStore,
    ) -> Result<SegmentMeta, String> {
        let base = base.trim_end_matches('/');
        let url = format!("{base}{SEGMENTS}/{sid}/{fencing}");
        let response = self
            .get(url.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let meta: SegmentMeta = response.json().await.map_err(|e| e.to_string())?;
        if meta.sid != sid || meta.fencing != fencing {
            return Err("answered another segment".into());
        }
        let dir = store.dir(sid, fencing);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| e.to_string())?;
        let names: Vec<&String> = std::iter::once(&meta.mix)
            .chain(meta.speakers.iter().map(|(_, n)| n))
            .collect();
        if let Some(name) = names.iter().find(|n| !plain_name(n)) {
            return Err(format!("a segment file named {name:?}"));
        }
        // The mix and the speakers' files side by side.
        futures_util::future::try_join_all(
            names
                .iter()
                .map(|name| self.download(format!("{url}/{name}"), dir.join(name))),
        )
        .await?;
        store.seal(&meta).map_err(|e| e.to_string())?;
        Ok(meta)
    }

    async fn download(&self, url: String, to: PathBuf) -> Result<(), String> {
        let response = self
            .get(url)
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {} for a file", response.status()));
        }
        let mut file = tokio::fs::File::create(&to)
            .await
            .map_err(|e| e.to_string())?;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk.map_err(|e| e.to_string())?)
                .await
                .map_err(|e| e.to_string())?;
        }
        file.sync_all().await.map_err(|e| e.to_string())
    }

    /// Tells the holder at `base` that segment (`sid`, `fencing`) is in the assembled recording.
    pub async fn forget(&self, base: &str, sid: Uuid, fencing: u64) -> Result<(), String> {
        let url = format!("{}{SEGMENTS}/{sid}/{fencing}", base.trim_end_matches('/'));
        let response = self
            .http
            .delete(url)
            .header(internal_auth::HEADER, &self.key)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() || response.status() == 404 {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }

    /// Asks the recorder at `base` (the session's new owner) to copy segment (`sid`, `fencing`)
    /// from recorder `holder` now: a recorder that hands its sessions over on SIGTERM is about to
    /// go away.
    pub async fn pull(
        &self,
        base: &str,
        sid: Uuid,
        fencing: u64,
        holder: &str,
    ) -> Result<(), String> {
        let url = format!(
            "{}{SEGMENTS}/{sid}/{fencing}/fetch",
            base.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .header(internal_auth::HEADER, &self.key)
            .timeout(Duration::from_secs(300))
            .json(&serde_json::json!({ "recorder": holder }))
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }

    /// Asks the recorder at `base` to continue a session (it answers once its audio flows).
    pub async fn handover(
        &self,
        base: &str,
        req: &HandoverRequest,
        timeout: Duration,
    ) -> Result<HandoverAnswer, String> {
        let response = self
            .http
            .post(format!("{}{HANDOVER}", base.trim_end_matches('/')))
            .header(internal_auth::HEADER, &self.key)
            .timeout(timeout)
            .json(req)
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }
}
