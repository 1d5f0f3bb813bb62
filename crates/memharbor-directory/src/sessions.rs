//! Where each session lives, by sid and by its files' stem: what routes a stop, a status or a
//! download to the recorder that holds it, also after the session ended. The route also keeps
//! what a recorder taking the session over needs (its file name, bot uid, start instant) and the
//! earlier owners whose segments the final recording is assembled from.

use memharbor_google::firestore::Write;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Directory, SESSIONS, Unavailable, id_of, number, object, plain_id, text};

/// Where a session lives.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRoute {
    pub sid: String,
    pub channel: String,
    pub recorder: String,
    pub fencing: u64,
    /// Its files' names start with this (`{channel}_{start time}`).
    pub stem: String,
    /// What another recorder needs to continue it (known once it records).
    pub recording: Option<RecordingParams>,
    /// The owners before the current one, oldest first: each holds a segment of the recording.
    pub earlier: Vec<SegmentRef>,
    /// Its recording was assembled and saved: segments of it anywhere may be deleted.
    pub assembled: bool,
}

/// What a recorder taking a session over needs to continue the same recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingParams {
    pub filename: String,
    pub uid: u32,
    pub speakers: bool,
    pub app_id: String,
    /// The recording's position 0, Unix milliseconds.
    pub started_ms: f64,
}

/// A segment of a recording: recorded by `recorder` under claim number `fencing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentRef {
    pub recorder: String,
    pub fencing: u64,
}

pub(crate) fn route(sid: String, fields: &Map<String, Value>) -> SessionRoute {
    SessionRoute {
        sid,
        channel: text(fields, "channel"),
        recorder: text(fields, "recorder"),
        fencing: number(fields, "fencing"),
        stem: text(fields, "stem"),
        recording: fields
            .get("recording")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
        earlier: fields
            .get("earlier")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        assembled: fields.get("assembled").and_then(Value::as_bool) == Some(true),
    }
}

impl Directory {
    /// Records the stem of session `sid`'s files and what a new owner would need, once it records.
    pub async fn note_recording(
        &self,
        sid: &str,
        stem: &str,
        params: &RecordingParams,
    ) -> Result<(), Unavailable> {
        self.count_writes(1);
        let write = Write::set(
            format!("{SESSIONS}/{sid}"),
            object(json!({"stem": stem, "recording": params})),
        )
        .merge();
        self.firestore.commit(&[write]).await?;
        Ok(())
    }

    /// Session `sid`'s recording is assembled and saved: its segments are no longer needed.
    pub async fn note_assembled(&self, sid: &str) -> Result<(), Unavailable> {
        self.count_writes(1);
        let write = Write::set(
            format!("{SESSIONS}/{sid}"),
            object(json!({"assembled": true})),
        )
        .merge();
        self.firestore.commit(&[write]).await?;
        Ok(())
    }

    /// Where session `sid` lives.
    pub async fn session(&self, sid: &str) -> Result<Option<SessionRoute>, Unavailable> {
        if !plain_id(sid) {
            return Ok(None);
        }
        self.count_reads(1);
        Ok(self
            .firestore
            .get(&format!("{SESSIONS}/{sid}"))
            .await?
            .map(|doc| route(sid.to_owned(), &doc.fields)))
    }

    /// Where the session whose files are `{stem}*.wav` lives.
    pub async fn session_of_stem(&self, stem: &str) -> Result<Option<SessionRoute>, Unavailable> {
        let (docs, _) = self
            .firestore
            .query(json!({
                "from": [{"collectionId": SESSIONS}],
                "where": {"fieldFilter": {"field": {"fieldPath": "stem"}, "op": "EQUAL", "value": {"stringValue": stem}}},
                "limit": 1,
            }))
            .await?;
        self.count_reads(docs.len());
        Ok(docs.first().map(|doc| route(id_of(&doc.path), &doc.fields)))
    }
}
