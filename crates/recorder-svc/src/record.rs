//! The recording record: what a finished session is, at the bottom of the recorder. Storage,
//! sessions, recovery and uploads all use it; it uses none of them. Its API views are the internal
//! API's types (`memharbor_shared::internal_api`), which the gateway relays to clients.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use memharbor_shared::internal_api::time_format;
pub use memharbor_shared::internal_api::time_format::iso_ms;
pub use memharbor_shared::internal_api::{
    Assembly, AssemblyState, AudioSpec, FirebaseLocation, LocalLocation, RecordingItem,
    RecordingList, SPEC, SegmentSummary, SessionStatus, SpeakerFile, StartAnswer, StopAnswer,
    StopReason, Uid, UploadPhase, UploadState, UploadStatus,
};

/// A finished session as kept on disk (one JSON file per recording in the index): what stop
/// answers, again and again, with when the record was written and what happened to the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// What stop answers.
    pub body: StopAnswer,
    /// When the record was written (the list's `createdAt`).
    #[serde(with = "time_format")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub history: Vec<HistoryEvent>,
    /// Cluster mode: the claim the session recorded under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Cluster mode, a recording of several segments: what assembling it takes (kept, so a
    /// pending assembly completes after a restart too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmented: Option<Segmented>,
}

/// A recording continued across recorders: its timeline and its segments, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Segmented {
    /// Unix ms of the recording's position 0 (its `startedAt`).
    pub origin_ms: f64,
    /// Unix ms of its end: the files are exactly this long.
    pub stop_ms: f64,
    pub segments: Vec<Lease>,
}

/// A session's claim on its channel in the cluster: which recorder held it, with which fencing
/// number (a later owner's is higher). Written into the journal when audio starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub recorder: String,
    pub fencing: u64,
}

impl Recording {
    /// Every file of the recording (mix first).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.body.filename.as_str()).chain(
            self.body
                .speakers
                .iter()
                .flatten()
                .map(|s| s.filename.as_str()),
        )
    }

    /// The recording as the list shows it.
    pub fn item(&self) -> RecordingItem {
        let b = &self.body;
        let url = b
            .firebase
            .as_ref()
            .map(|f| f.url.clone())
            .or_else(|| b.local.as_ref().map(|l| l.url.clone()))
            .unwrap_or_default();
        RecordingItem {
            id: b.sid.to_string(),
            filename: b.filename.clone(),
            url,
            channel: b.channel.clone(),
            group_id: b.group_id.clone(),
            user1: b.user1.clone(),
            user2: b.user2.clone(),
            duration: b.duration,
            file_size: b.file_size,
            format: b.format.clone(),
            spec: SPEC,
            recorded_at: b.started_at,
            created_at: self.created_at,
        }
    }
}

/// Something that happened to a session (joins, crashes, rejoins, token renewals…).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    #[serde(with = "time_format")]
    pub at: OffsetDateTime,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl HistoryEvent {
    pub fn now(event: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            at: OffsetDateTime::now_utc(),
            event: event.into(),
            detail,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_the_spec_shows() {
        let t = from_unix_ms(1_770_120_000_123.0);
        assert_eq!(iso_ms(t), "2026-02-03T12:00:00.123Z");
        assert_eq!(file_stamp(t), "2026-02-03T12-00-00");
    }

    #[test]
    fn a_record_written_by_the_previous_version_still_loads() {
        let old = r#"{"body":{"sid":"0b0d4c1e-0000-4000-8000-000000000001","channel":"g_a_b",
            "groupId":"g","user1":"a","user2":"b","filename":"g_a_b_2026-02-03T12-00-00.wav",
            "format":"wav","duration":1000,"fileSize":32044,"firebase":null,
            "local":{"path":"recordings/x.wav","url":"/api/recording/files/x.wav"},
            "status":"stopped","stopReason":"requested","upload":{"state":"pending","phase":"refused",
            "attempts":2,"lastError":"x","bytesUploaded":0,"bytesTotal":32044},"uid":999999,
            "startedAt":"2026-02-03T12:00:00.000Z","stoppedAt":"2026-02-03T12:00:01.000Z"},
            "createdAt":"2026-02-03T12:00:01.500Z",
            "history":[{"at":"2026-02-03T12:00:00.010Z","event":"recording","detail":"x"}]}"#;
        let record: Recording = serde_json::from_str(old).unwrap();
        assert_eq!(record.body.stop_reason, StopReason::Requested);
        assert_eq!(
            record.body.upload.as_ref().unwrap().phase,
            Some(UploadPhase::Refused)
        );
        assert_eq!(iso_ms(record.created_at), "2026-02-03T12:00:01.500Z");
        let again = serde_json::to_value(&record).unwrap();
        assert_eq!(again["body"]["startedAt"], "2026-02-03T12:00:00.000Z");
    }
}
