//! The local index of finished recordings: one JSON file per session, kept in memory sorted newest
//! first, written atomically (temp file, fsync, rename) so a crash never leaves half a record.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use time::OffsetDateTime;
use uuid::Uuid;

pub use crate::record::Recording;

use super::list::{self, ListQuery};
use crate::record::RecordingList;

#[derive(Debug)]
pub struct RecordIndex {
    dir: PathBuf,
    records: RwLock<Records>,
}

/// The records, and what they are looked up by (lookups are constant-time, not scans).
#[derive(Debug, Default)]
struct Records {
    /// Newest first (by `startedAt`, then sid): the list's order.
    ordered: Vec<Arc<Recording>>,
    by_sid: HashMap<Uuid, Arc<Recording>>,
    /// Every file of every record (the mix and each speaker's).
    by_file: HashMap<String, Uuid>,
    /// Per channel, its records (for stop-by-channel after the end).
    by_channel: HashMap<String, Vec<Arc<Recording>>>,
}

impl Records {
    fn insert(&mut self, record: Arc<Recording>) {
        self.remove(record.body.sid);
        let at = self
            .ordered
            .binary_search_by(|r| sort_key(&record).cmp(&sort_key(r)))
            .unwrap_or_else(|i| i);
        self.ordered.insert(at, Arc::clone(&record));
        for file in record.files() {
            self.by_file.insert(file.to_owned(), record.body.sid);
        }
        self.by_channel
            .entry(record.body.channel.clone())
            .or_default()
            .push(Arc::clone(&record));
        self.by_sid.insert(record.body.sid, record);
    }

    fn remove(&mut self, sid: Uuid) {
        let Some(old) = self.by_sid.remove(&sid) else {
            return;
        };
        self.ordered.retain(|r| r.body.sid != sid);
        for file in old.files() {
            self.by_file.remove(file);
        }
        if let Some(list) = self.by_channel.get_mut(&old.body.channel) {
            list.retain(|r| r.body.sid != sid);
        }
    }
}

fn sort_key(r: &Recording) -> (OffsetDateTime, Uuid) {
    (r.body.started_at, r.body.sid)
}

impl RecordIndex {
    /// Loads every record in `dir` (created if missing). Unreadable files are skipped and logged.
    pub fn load(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut records = Vec::new();
        for entry in fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                match fs::read(&path).map(|b| serde_json::from_slice::<Recording>(&b)) {
                    Ok(Ok(record)) => records.push(Arc::new(record)),
                    Ok(Err(e)) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable index record")
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable index record")
                    }
                }
            }
        }
        let mut all = Records::default();
        for record in records {
            all.insert(record);
        }
        Ok(Self {
            dir: dir.to_owned(),
            records: RwLock::new(all),
        })
    }

    /// Writes (or replaces) a record durably, then makes it visible.
    pub fn save(&self, record: Recording) -> io::Result<Arc<Recording>> {
        let path = self.dir.join(format!("{}.json", record.body.sid));
        let tmp = self.dir.join(format!(".{}.json.tmp", record.body.sid));
        let bytes = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        let record = Arc::new(record);
        self.records
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Arc::clone(&record));
        Ok(record)
    }

    /// Changes a record in place (durably); false if there is no record for `sid`.
    pub fn update(&self, sid: Uuid, change: impl FnOnce(&mut Recording)) -> io::Result<bool> {
        let Some(current) = self.get(sid) else {
            return Ok(false);
        };
        let mut record = (*current).clone();
        change(&mut record);
        self.save(record)?;
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Records> {
        self.records.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, sid: Uuid) -> Option<Arc<Recording>> {
        self.read().by_sid.get(&sid).cloned()
    }

    /// Every record, newest first.
    pub fn all(&self) -> Vec<Arc<Recording>> {
        self.read().ordered.clone()
    }

    /// The newest recording of `channel` that stopped at or after `since`.
    pub fn recent_for_channel(
        &self,
        channel: &str,
        since: OffsetDateTime,
    ) -> Option<Arc<Recording>> {
        self.read()
            .by_channel
            .get(channel)?
            .iter()
            .filter(|r| r.body.stopped_at >= since)
            .max_by(|a, b| a.body.stopped_at.cmp(&b.body.stopped_at))
            .cloned()
    }

    /// True if `filename` is a file of a finished recording.
    /// The recording `filename` belongs to.
    pub fn recording_of_file(&self, filename: &str) -> Option<Arc<Recording>> {
        let records = self.read();
        let sid = records.by_file.get(filename)?;
        records.by_sid.get(sid).cloned()
    }

    pub fn has_file(&self, filename: &str) -> bool {
        self.read().by_file.contains_key(filename)
    }

    /// True if any record uses `filename` (to keep new names unique).
    pub fn is_taken(&self, filename: &str) -> bool {
        self.has_file(filename)
    }

    pub fn list(&self, query: &ListQuery) -> RecordingList {
        let records = self.read();
        // Straight to the cursor (the order is the cursor's), not a scan from the newest.
        let start = query
            .cursor
            .as_deref()
            .and_then(list::cursor_position)
            .map_or(0, |position| {
                records.ordered.partition_point(|r| sort_key(r) >= position)
            });
        list::page(records.ordered[start..].iter().map(Arc::as_ref), query)
    }

    pub fn len(&self) -> usize {
        self.read().ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
