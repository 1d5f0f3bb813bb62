//! What the recorder answers, and the gateway relays as the public API's bodies: the start
//! answer, a session in progress, the stop body (again and again), the saved recordings. Field
//! names are the spec's (`../shared/spec/api.md`), camelCase and snake_case as clients expect.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::time_format;

/// An Agora uid as the SDK reports it (numbers normally, strings for string-uid channels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Uid {
    Num(u32),
    Str(String),
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Requested,
    Idle,
    MaxDuration,
    Shutdown,
    Error,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Requested => "requested",
            StopReason::Idle => "idle",
            StopReason::MaxDuration => "max_duration",
            StopReason::Shutdown => "shutdown",
            StopReason::Error => "error",
        }
    }
}

/// `POST /api/recording/start`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StartAnswer {
    pub sid: Uuid,
    pub channel: String,
    pub uid: u32,
    pub filename: String,
    /// `recording`.
    pub status: String,
    #[serde(with = "time_format")]
    pub started_at: OffsetDateTime,
    pub existing: bool,
}

/// One in-progress session (`GET /api/recording/status`, `GET /api/recording/{sid}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub sid: Uuid,
    pub channel: String,
    pub group_id: String,
    pub user1: String,
    pub user2: String,
    pub uid: u32,
    pub filename: String,
    /// `recording` (also while reconnecting), or `stopping` until the record is saved.
    pub status: String,
    #[serde(with = "time_format")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    /// Remote users publishing audio now.
    pub participants: Vec<Uid>,
    pub speakers: bool,
    /// Cluster mode: the recorder that records it (`RECORDER_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<String>,
}

/// `GET /api/recording/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionList {
    pub count: usize,
    pub sessions: Vec<SessionStatus>,
}

/// Where a local file is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalLocation {
    pub path: String,
    pub url: String,
}

impl LocalLocation {
    pub fn for_file(filename: &str) -> Self {
        Self {
            path: format!("recordings/{filename}"),
            url: format!("/api/recording/files/{filename}"),
        }
    }
}

/// Where an uploaded file is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FirebaseLocation {
    pub url: String,
    pub firestore_id: String,
    pub storage_path: String,
}

/// One per-speaker file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerFile {
    pub uid: u32,
    pub filename: String,
    pub duration: u64,
    pub file_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firebase: Option<FirebaseLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalLocation>,
}

/// The upload's state while it is not done (a done upload shows as `firebase`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    Pending,
}

/// Where a pending upload is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UploadPhase {
    /// Waiting for its (next) attempt.
    Pending,
    Uploading,
    /// Firebase refused it (credentials, permissions, bucket): retried once that is fixed.
    Refused,
}

/// `upload` in a stop body: `{"state": "pending", "attempts": 1, "lastError": "…"}`. The
/// error is a general sentence; Google's own words stay with the operator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadStatus {
    pub state: UploadState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<UploadPhase>,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<u64>,
}

/// The stop body: what stop answers, again and again, and `GET /api/recording/{sid}` once the
/// session ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StopAnswer {
    pub sid: Uuid,
    pub channel: String,
    pub group_id: String,
    pub user1: String,
    pub user2: String,
    pub filename: String,
    pub format: String,
    /// Milliseconds: samples / 16.
    pub duration: u64,
    pub file_size: u64,
    pub firebase: Option<FirebaseLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalLocation>,
    /// `stopped`.
    pub status: String,
    pub stop_reason: StopReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speakers: Option<Vec<SpeakerFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadStatus>,
    pub uid: u32,
    #[serde(with = "time_format")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time_format")]
    pub stopped_at: OffsetDateTime,
    /// Cluster mode, a recording continued by another recorder (failover, hand-over): its
    /// segments on the recording's timeline, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentSummary>>,
    /// Cluster mode, a recording of several segments: whether every segment is in the file yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembly: Option<Assembly>,
}

impl StopAnswer {
    /// Each speaker's file, as (uid, file name).
    pub fn speaker_files(&self) -> Vec<(u32, String)> {
        self.speakers
            .iter()
            .flatten()
            .map(|s| (s.uid, s.filename.clone()))
            .collect()
    }
}

/// One segment of a recording: which recorder recorded it (under which claim number), when, and
/// how it joins the one before it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SegmentSummary {
    pub recorder: String,
    pub fencing: u64,
    #[serde(with = "time_format")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time_format")]
    pub stopped_at: OffsetDateTime,
    /// Silence between the previous segment's end and this one's audio (a failover's gap).
    pub gap_ms: u64,
    /// This segment's start overlapped the previous one (a hand-over): dropped, never doubled.
    pub cut_ms: u64,
}

/// `assembly` in a stop body: `{"state": "pending", "missing": ["recorder-1#3"]}` while a
/// segment's holder is away; the file is complete (and uploaded) once it returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Assembly {
    pub state: AssemblyState,
    /// `{recorder}#{fencing}` of each segment not yet fetched.
    #[serde(default)]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AssemblyState {
    Pending,
    Complete,
}

/// `GET /api/recording/{sid}`: the status entry while recording, the stop body once stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SessionAnswer {
    Stopped(Box<StopAnswer>),
    Live(Box<SessionStatus>),
}

/// The audio format every file has.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AudioSpec {
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: u16,
}

pub const SPEC: AudioSpec = AudioSpec {
    sample_rate: 16_000,
    channels: 1,
    bit_depth: 16,
};

/// One saved recording in `GET /api/recording/list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingItem {
    pub id: String,
    pub filename: String,
    pub url: String,
    pub channel: String,
    pub group_id: String,
    pub user1: String,
    pub user2: String,
    pub duration: u64,
    pub file_size: u64,
    pub format: String,
    pub spec: AudioSpec,
    #[serde(with = "time_format")]
    pub recorded_at: OffsetDateTime,
    #[serde(with = "time_format")]
    pub created_at: OffsetDateTime,
}

/// `GET /api/recording/list`: a page, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingList {
    pub recordings: Vec<RecordingItem>,
    pub next_cursor: Option<String>,
}
