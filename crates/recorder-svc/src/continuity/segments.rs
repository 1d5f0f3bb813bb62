//! Segments on this recorder's disk: the audio it recorded of sessions another recorder
//! continued (or continues), and copies fetched from other recorders for assembly. One folder per
//! segment, `{recordings}/.segments/{sid}-{fencing}/`, holding its files (named as the final
//! recording's) and `segment.json`, written last: a folder without it is not a segment yet.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

const META: &str = "segment.json";

/// What a segment is: whose, when, which files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentMeta {
    pub sid: Uuid,
    pub fencing: u64,
    pub recorder: String,
    /// Unix ms of its files' first sample.
    pub start_ms: f64,
    /// Unix ms where its audio ends (its stop, or its last renewed lease).
    pub end_ms: f64,
    /// The mix file's name.
    pub mix: String,
    /// Each speaker's file: (uid, name).
    #[serde(default)]
    pub speakers: Vec<(u32, String)>,
}

impl SegmentMeta {
    /// `recorder#fencing`, as `assembly.missing` names it.
    pub fn label(&self) -> String {
        label(&self.recorder, self.fencing)
    }
}

pub fn label(recorder: &str, fencing: u64) -> String {
    format!("{recorder}#{fencing}")
}

/// The segments folder.
#[derive(Debug, Clone)]
pub struct SegmentStore {
    root: PathBuf,
}

/// A file name that names a file inside a segment's folder and nothing else.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != META
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl SegmentStore {
    pub fn new(recordings_dir: &Path) -> Self {
        Self {
            root: recordings_dir.join(".segments"),
        }
    }

    pub fn dir(&self, sid: Uuid, fencing: u64) -> PathBuf {
        self.root.join(format!("{sid}-{fencing}"))
    }

    /// A segment's file, if `name` is one of its own.
    pub fn file(&self, sid: Uuid, fencing: u64, name: &str) -> Option<PathBuf> {
        plain_name(name).then(|| self.dir(sid, fencing).join(name))
    }

    /// The segment, if it is complete here.
    pub fn get(&self, sid: Uuid, fencing: u64) -> Option<SegmentMeta> {
        serde_json::from_slice(&fs::read(self.dir(sid, fencing).join(META)).ok()?).ok()
    }

    /// Marks the files in its folder as the complete segment `meta` (synced).
    pub fn seal(&self, meta: &SegmentMeta) -> io::Result<()> {
        let dir = self.dir(meta.sid, meta.fencing);
        fs::create_dir_all(&dir)?;
        let tmp = dir.join(".segment.tmp");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(meta).map_err(io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(tmp, dir.join(META))?;
        fs::File::open(&dir)?.sync_all()
    }

    /// Moves a recording's files from `from` into the segment's folder and seals it.
    pub fn adopt(&self, from: &Path, meta: &SegmentMeta) -> io::Result<()> {
        let dir = self.dir(meta.sid, meta.fencing);
        fs::create_dir_all(&dir)?;
        for name in std::iter::once(&meta.mix).chain(meta.speakers.iter().map(|(_, n)| n)) {
            let src = from.join(name);
            if src != dir.join(name) && src.exists() {
                fs::rename(&src, dir.join(name))?;
            }
        }
        self.seal(meta)
    }

    /// Forgets a segment (once the assembled recording is safe).
    pub fn remove(&self, sid: Uuid, fencing: u64) {
        let _ = fs::remove_dir_all(self.dir(sid, fencing));
    }

    /// The sessions of every segment held here, with their count.
    pub fn sessions(&self) -> std::collections::BTreeMap<Uuid, usize> {
        let mut sessions = std::collections::BTreeMap::new();
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((sid, _)) = name.rsplit_once('-')
                && let Ok(sid) = Uuid::parse_str(sid)
            {
                *sessions.entry(sid).or_insert(0) += 1;
            }
        }
        sessions
    }

    /// Forgets every segment of `sid` held here.
    pub fn remove_session(&self, sid: Uuid) {
        let prefix = format!("{sid}-");
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Every segment of `sid` held here.
    pub fn of_session(&self, sid: Uuid) -> Vec<SegmentMeta> {
        let prefix = format!("{sid}-");
        fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let fencing = name.strip_prefix(&prefix)?.parse().ok()?;
                self.get(sid, fencing)
            })
            .collect()
    }
}
