//! `GET /api/recording/list` from the local index: filters, newest first, opaque cursor paging.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::{Recording, RecordingList, iso_ms};

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

/// An opaque cursor: the position after (recordedAt, id) in newest-first order. The same format
/// for the local index and Firestore.
pub fn encode_cursor(recorded_at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{recorded_at}|{id}"))
}

fn cursor_after(r: &Recording) -> String {
    encode_cursor(&iso_ms(r.body.started_at), &r.body.sid.to_string())
}

/// Decodes a cursor into (recordedAt, id); `None` if it is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<(String, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (at, sid) = text.rsplit_once('|')?;
    Some((at.to_owned(), sid.parse().ok()?))
}

/// A decoded cursor's position: (recordedAt, id) as the local index orders records.
pub fn cursor_position(cursor: &str) -> Option<(time::OffsetDateTime, Uuid)> {
    let (at, sid) = decode_cursor(cursor)?;
    Some((
        memharbor_shared::internal_api::time_format::parse(&at)?,
        sid,
    ))
}

/// One page of `records` (already newest first). An undecodable cursor gives an empty page; the
/// API layer rejects such cursors before they get here.
pub fn page<'a>(records: impl Iterator<Item = &'a Recording>, q: &ListQuery) -> RecordingList {
    let after = q.cursor.as_deref().and_then(cursor_position);
    let limit = q.limit.clamp(1, MAX_LIMIT);
    let mut out = Vec::with_capacity(limit);
    let mut last: Option<&Recording> = None;
    let mut more = false;
    for r in records {
        let b = &r.body;
        if let Some((at, sid)) = &after
            && (b.started_at, b.sid) >= (*at, *sid)
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
        out.push(r.item());
        last = Some(r);
    }
    RecordingList {
        recordings: out,
        next_cursor: if more { last.map(cursor_after) } else { None },
    }
}
