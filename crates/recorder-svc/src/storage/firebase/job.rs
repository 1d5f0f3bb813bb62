//! The upload job as persisted on disk (one JSON file per stopped recording) and what `/status`
//! and the stop body show of it.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One file of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFile {
    pub name: String,
    /// `None` for the mix, the uid for a speaker file.
    pub uid: Option<u32>,
    pub size: u64,
    pub md5: Option<String>,
    pub download_token: String,
    /// The resumable upload session and how much of it Storage confirmed.
    pub session: Option<String>,
    pub confirmed: u64,
    pub uploaded: bool,
}

impl JobFile {
    pub fn object(&self) -> String {
        format!("recordings/{}", self.name)
    }
}

/// A job as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub sid: Uuid,
    pub created_at: String,
    pub files: Vec<JobFile>,
    /// The Firestore document's fields (plain JSON).
    pub document: Map<String, Value>,
    pub document_written: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub refused: bool,
    pub done_at: Option<String>,
    pub index_updated: bool,
}

/// What status and the stop body show of a job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// `pending` (waiting to retry), `uploading`, `refused` (needs an operator), `done`.
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub bytes_uploaded: u64,
    pub bytes_total: u64,
}

/// The queue, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSummary {
    pub pending: usize,
    pub uploading: usize,
    pub failing: usize,
    pub refused: usize,
    pub done: usize,
    pub oldest_pending_age_s: Option<u64>,
    pub last_error: Option<String>,
}

/// Writes `bytes` to `path` so a crash leaves either the old or the new file, never half of one:
/// a temporary file, synced, renamed over `path`, and the folder synced so the rename itself
/// survives a power cut.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
