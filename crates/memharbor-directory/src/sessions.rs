//! Where each session lives, by sid and by its files' stem: what routes a stop, a status or a
//! download to the recorder that holds it, also after the session ended.

use memharbor_google::firestore::Write;
use serde_json::json;

use crate::{Directory, SESSIONS, Unavailable, id_of, number, object, plain_id, text};

/// Where a session lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRoute {
    pub sid: String,
    pub channel: String,
    pub recorder: String,
    pub fencing: u64,
    /// Its files' names start with this (`{channel}_{start time}`).
    pub stem: String,
}

fn route(sid: String, fields: &serde_json::Map<String, serde_json::Value>) -> SessionRoute {
    SessionRoute {
        sid,
        channel: text(fields, "channel"),
        recorder: text(fields, "recorder"),
        fencing: number(fields, "fencing"),
        stem: text(fields, "stem"),
    }
}

impl Directory {
    /// Records the stem of session `sid`'s files (known once it records), for downloads.
    pub async fn note_files(&self, sid: &str, stem: &str) -> Result<(), Unavailable> {
        self.count_writes(1);
        let write = Write::set(format!("{SESSIONS}/{sid}"), object(json!({"stem": stem}))).merge();
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
