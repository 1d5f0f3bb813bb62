//! The upload job as persisted on disk (one JSON file per stopped recording: its files, how far
//! each got, its document) and what `/status` and the stop body show of it.

use memharbor_shared::internal_api::time_format;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::document::RecordingDocument;

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
    #[serde(with = "time_format")]
    pub created_at: OffsetDateTime,
    pub files: Vec<JobFile>,
    /// The Firestore document to write once every file is confirmed.
    pub document: RecordingDocument,
    pub document_written: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub refused: bool,
    #[serde(default, with = "time_format::option")]
    pub done_at: Option<OffsetDateTime>,
    pub index_updated: bool,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its (next) attempt.
    Pending,
    Uploading,
    /// Refused by Firebase (credentials, permissions, bucket): needs an operator.
    Refused,
    Done,
}

/// What status and the stop body show of a job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub state: JobState,
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
