//! The Firestore document of a recording, in collection `recordings`, as the spec fixes it: these
//! fields, these names and types (the mobile app reads them), plus allowed extras (`sid`,
//! `stopReason`, `storagePath`, `speakers`, `segments`). Derived from the stop body and the upload's files;
//! `firestore::encode_fields` turns it into Firestore's typed values.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use memharbor_shared::internal_api::time_format;

use crate::record::{AudioSpec, SPEC, StopAnswer, StopReason};

/// The collection the mobile app reads.
pub const COLLECTION: &str = "recordings";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingDocument {
    pub filename: String,
    /// The mix's Firebase download URL.
    pub url: String,
    pub channel: String,
    pub group_id: String,
    pub user1: String,
    pub user2: String,
    /// Milliseconds.
    pub duration: u64,
    pub file_size: u64,
    /// `wav`.
    pub format: String,
    pub spec: AudioSpec,
    #[serde(with = "time_format")]
    pub recorded_at: OffsetDateTime,
    #[serde(with = "time_format")]
    pub created_at: OffsetDateTime,
    // Extras (the spec allows them):
    pub sid: Uuid,
    pub stop_reason: StopReason,
    pub storage_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speakers: Option<Vec<SpeakerDocument>>,
    /// A recording continued by another recorder: its segments (recorder, times, gap, cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<crate::record::SegmentSummary>>,
}

/// One speaker's file in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerDocument {
    pub uid: u32,
    pub filename: String,
    pub url: String,
    pub storage_path: String,
    pub duration: u64,
    pub file_size: u64,
}

/// Where one of the recording's files lands: its object path and download URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub storage_path: String,
    pub url: String,
}

impl RecordingDocument {
    /// The document of `body`, whose mix lands at `mix` and each speaker's file at the
    /// `speakers` entry of the same index.
    pub fn new(
        body: &StopAnswer,
        mix: &Uploaded,
        speakers: &[Uploaded],
        created_at: OffsetDateTime,
    ) -> Self {
        let speakers = body.speakers.as_ref().map(|list| {
            list.iter()
                .zip(speakers)
                .map(|(s, at)| SpeakerDocument {
                    uid: s.uid,
                    filename: s.filename.clone(),
                    url: at.url.clone(),
                    storage_path: at.storage_path.clone(),
                    duration: s.duration,
                    file_size: s.file_size,
                })
                .collect()
        });
        Self {
            filename: body.filename.clone(),
            url: mix.url.clone(),
            channel: body.channel.clone(),
            group_id: body.group_id.clone(),
            user1: body.user1.clone(),
            user2: body.user2.clone(),
            duration: body.duration,
            file_size: body.file_size,
            format: "wav".to_owned(),
            spec: SPEC,
            recorded_at: body.started_at,
            created_at,
            sid: body.sid,
            stop_reason: body.stop_reason,
            storage_path: mix.storage_path.clone(),
            speakers,
            segments: body.segments.clone(),
        }
    }

    /// The document as plain JSON fields (for `firestore::encode_fields`).
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{SpeakerFile, from_unix_ms};

    fn body() -> StopAnswer {
        StopAnswer {
            sid: Uuid::nil(),
            channel: "g1_ann_bob".into(),
            group_id: "g1".into(),
            user1: "ann".into(),
            user2: "bob".into(),
            filename: "g1_ann_bob_2026-02-03T12-00-00.wav".into(),
            format: "wav".into(),
            duration: 120_000,
            file_size: 3_840_044,
            firebase: None,
            local: None,
            status: "stopped".into(),
            stop_reason: StopReason::Idle,
            speakers: Some(vec![SpeakerFile {
                uid: 7,
                filename: "g1_ann_bob_2026-02-03T12-00-00_7.wav".into(),
                duration: 120_000,
                file_size: 3_840_044,
                firebase: None,
                local: None,
            }]),
            upload: None,
            uid: 999_999,
            started_at: from_unix_ms(1_770_120_000_000.0),
            stopped_at: from_unix_ms(1_770_120_120_000.0),
            segments: None,
            assembly: None,
        }
    }

    #[test]
    fn the_document_has_the_specs_fields_and_types() {
        let at = |path: &str| Uploaded {
            storage_path: format!("recordings/{path}"),
            url: format!(
                "https://firebasestorage.googleapis.com/v0/b/b/o/{path}?alt=media&token=t"
            ),
        };
        let doc = RecordingDocument::new(
            &body(),
            &at("mix.wav"),
            &[at("s7.wav")],
            from_unix_ms(1_770_120_121_500.0),
        );
        let fields = doc.fields();
        for (name, value) in [
            (
                "filename",
                serde_json::json!("g1_ann_bob_2026-02-03T12-00-00.wav"),
            ),
            ("channel", serde_json::json!("g1_ann_bob")),
            ("groupId", serde_json::json!("g1")),
            ("user1", serde_json::json!("ann")),
            ("user2", serde_json::json!("bob")),
            ("duration", serde_json::json!(120_000)),
            ("fileSize", serde_json::json!(3_840_044)),
            ("format", serde_json::json!("wav")),
            (
                "spec",
                serde_json::json!({"sampleRate": 16000, "channels": 1, "bitDepth": 16}),
            ),
            ("recordedAt", serde_json::json!("2026-02-03T12:00:00.000Z")),
            ("createdAt", serde_json::json!("2026-02-03T12:02:01.500Z")),
            ("stopReason", serde_json::json!("idle")),
            ("storagePath", serde_json::json!("recordings/mix.wav")),
        ] {
            assert_eq!(fields[name], value, "{name}");
        }
        assert!(fields["url"].as_str().unwrap().contains("mix.wav"));
        assert_eq!(fields["speakers"][0]["uid"], 7);
        assert_eq!(fields["speakers"][0]["storagePath"], "recordings/s7.wav");
        // What an earlier version wrote as plain JSON reads back as the same document.
        let back: RecordingDocument = serde_json::from_value(fields.into()).unwrap();
        assert_eq!(back, doc);
    }
}
