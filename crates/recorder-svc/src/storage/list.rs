//! `GET /api/recording/list` from the local index: filters, newest first, opaque cursor paging.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::index::StoredRecording;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// A validated list request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    /// Matches `user1` or `user2`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: usize,
    #[serde(default)]
    pub cursor: Option<String>,
}

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

/// One recording in the list, with the spec's fields.
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
    pub recorded_at: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AudioSpec {
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: u16,
}

/// What every file is.
pub const SPEC: AudioSpec = AudioSpec {
    sample_rate: 16_000,
    channels: 1,
    bit_depth: 16,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    pub recordings: Vec<RecordingItem>,
    pub next_cursor: Option<String>,
}

/// An opaque cursor: the position after (recordedAt, id) in newest-first order. The same format
/// for the local index and Firestore.
pub fn encode_cursor(recorded_at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{recorded_at}|{id}"))
}

fn cursor_after(r: &StoredRecording) -> String {
    encode_cursor(&r.body.started_at, &r.body.sid.to_string())
}

/// Decodes a cursor into (recordedAt, id); `None` if it is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<(String, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (at, sid) = text.rsplit_once('|')?;
    Some((at.to_owned(), sid.parse().ok()?))
}

fn item(r: &StoredRecording) -> RecordingItem {
    let b = &r.body;
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
        recorded_at: b.started_at.clone(),
        created_at: r.created_at.clone(),
    }
}

/// One page of `records` (already newest first). An undecodable cursor gives an empty page; the
/// API layer rejects such cursors before they get here.
pub fn page<'a>(records: impl Iterator<Item = &'a StoredRecording>, q: &ListQuery) -> ListPage {
    let after = q.cursor.as_deref().and_then(decode_cursor);
    let limit = q.limit.clamp(1, MAX_LIMIT);
    let mut out = Vec::with_capacity(limit);
    let mut last: Option<&StoredRecording> = None;
    let mut more = false;
    for r in records {
        let b = &r.body;
        if let Some((at, sid)) = &after
            && (b.started_at.as_str(), b.sid) >= (at.as_str(), *sid)
        {
            continue;
        }
        if q.channel.as_ref().is_some_and(|c| *c != b.channel)
            || q.group_id.as_ref().is_some_and(|g| *g != b.group_id)
            || q.user
                .as_ref()
                .is_some_and(|u| *u != b.user1 && *u != b.user2)
        {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(item(r));
        last = Some(r);
    }
    ListPage {
        recordings: out,
        next_cursor: if more { last.map(cursor_after) } else { None },
    }
}
