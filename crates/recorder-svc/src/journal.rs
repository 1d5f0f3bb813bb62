//! A recording's journal: written when audio starts, removed once the session's record is saved.
//! A journal found at start-up means the process died mid-recording; `recovery` finishes it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub sid: Uuid,
    pub channel: String,
    pub uid: u32,
    pub filename: String,
    pub speakers: bool,
    #[serde(with = "memharbor_shared::internal_api::time_format")]
    pub started_at: time::OffsetDateTime,
    /// Cluster mode: the channel's claim this segment records under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<crate::record::Lease>,
    /// Cluster mode: this recording continues a session another recorder began (failover,
    /// hand-over); its files are a segment, kept in the segments folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<Continues>,
}

/// A continuation's place in its recording.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Continues {
    /// Unix ms of the recording's position 0.
    pub origin_ms: f64,
    /// Unix ms of this segment's first sample.
    pub start_ms: f64,
    /// The segments before this one, oldest first.
    pub earlier: Vec<crate::record::Lease>,
}

impl Journal {
    /// `{stem}_{uid}.wav` is a speaker file of this recording.
    pub fn stem(&self) -> &str {
        self.filename.strip_suffix(".wav").unwrap_or(&self.filename)
    }
}

pub fn path(dir: &Path, sid: Uuid) -> PathBuf {
    dir.join(format!("{sid}.json"))
}

pub fn write(dir: &Path, journal: &Journal) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", journal.sid));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(journal).map_err(io::Error::other)?)?;
        f.sync_all()?;
    }
    fs::rename(tmp, path(dir, journal.sid))?;
    // The rename itself must survive a power cut: sync the folder.
    fs::File::open(dir)?.sync_all()
}

pub fn remove(dir: &Path, sid: Uuid) {
    let _ = fs::remove_file(path(dir, sid));
}

/// Every journal left in `dir`.
pub fn all(dir: &Path) -> Vec<Journal> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
        .collect()
}
