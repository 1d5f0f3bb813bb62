//! What the API shows of a session: the start answer, a status entry, the final (stop) body.
//! Field names are the spec's (`../shared/spec/api.md`), camelCase and snake_case as clients expect.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use super::page_protocol::Uid;

/// `2026-02-03T12:00:00.000Z`.
pub fn iso_ms(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// `2026-02-03T12-00-00`, the file name's time.
pub fn file_stamp(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]-[minute]-[second]"
    ))
    .unwrap_or_default()
}

/// Unix milliseconds → UTC time.
pub fn from_unix_ms(ms: f64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos((ms * 1e6) as i128)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
pub struct StartView {
    pub sid: Uuid,
    pub channel: String,
    pub uid: u32,
    pub filename: String,
    pub status: String,
    pub started_at: String,
    pub existing: bool,
}

/// One in-progress session in `GET /api/recording/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEntry {
    pub sid: Uuid,
    pub channel: String,
    pub group_id: String,
    pub user1: String,
    pub user2: String,
    pub uid: u32,
    pub filename: String,
    pub status: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// Remote users currently publishing audio.
    pub participants: Vec<Uid>,
    pub speakers: bool,
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

/// Where an uploaded file is (Firebase; filled in by the Firebase destination).
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firebase: Option<FirebaseLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalLocation>,
}

/// The stop body: what `stop` answers, again and again, and what `GET /api/recording/{sid}` shows
/// once the session ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StopBody {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalLocation>,
    pub status: String,
    pub stop_reason: StopReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speakers: Option<Vec<SpeakerFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<serde_json::Value>,
    pub uid: u32,
    pub started_at: String,
    pub stopped_at: String,
}

/// Something that happened to a session (joins, crashes, rejoins, token renewals…).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub at: String,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl HistoryEvent {
    pub fn now(event: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            at: iso_ms(OffsetDateTime::now_utc()),
            event: event.into(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_the_spec_shows() {
        let t = from_unix_ms(1_770_120_000_123.0);
        assert_eq!(iso_ms(t), "2026-02-03T12:00:00.123Z");
        assert_eq!(file_stamp(t), "2026-02-03T12-00-00");
    }
}
