//! Finishing recordings whose stop never completed: at start-up, each journal left by a killed
//! run; while running, a session whose finish or save failed (disk full, I/O errors). The files are
//! repaired (headers fixed to the audio actually on disk), the recording is delivered and listed,
//! and its journal removed.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::audio::{AudioError, wav};
use crate::journal::{self, Journal};
use crate::record::{HistoryEvent, SpeakerFile, StopAnswer, StopReason};
use crate::storage::{Recording, Store};
use crate::webhooks::{EventType, Events};
use memharbor_shared::channel::RecordingChannel;

/// Recovers every recording with a journal in `journal_dir`; returns how many. In cluster mode
/// (`leased_later`), a journal with a claim waits for the directory (`continuity::recover`):
/// another recorder may have continued its session.
pub async fn recover(
    journal_dir: &Path,
    recordings_dir: &Path,
    store: &Store,
    events: &Events,
    leased_later: bool,
) -> usize {
    let mut recovered = 0;
    for journal in journal::all(journal_dir) {
        if leased_later && journal.lease.is_some() {
            continue;
        }
        match recover_one(&journal, recordings_dir, store, events).await {
            Ok(true) => recovered += 1,
            Ok(false) => {}
            Err(()) => continue,
        }
        journal::remove(journal_dir, journal.sid);
    }
    recovered
}

/// Repairs, delivers and lists one journal's recording: whether there was one; `Err` if it
/// could not be saved (its journal must stay).
pub async fn recover_one(
    journal: &Journal,
    recordings_dir: &Path,
    store: &Store,
    events: &Events,
) -> Result<bool, ()> {
    if store.index.get(journal.sid).is_some() {
        return Ok(false);
    }
    let history = vec![HistoryEvent::now(
        "recovered",
        Some(
            "the recorder stopped unexpectedly; the audio on disk was kept and its header repaired"
                .into(),
        ),
    )];
    match repair(journal, recordings_dir, StopReason::Error, history).await {
        Ok(None) => {
            tracing::warn!(sid = %journal.sid, "a journal without audio (the start failed): nothing to recover");
            Ok(false)
        }
        Ok(Some(mut record)) => {
            let data = serde_json::to_value(&record.body).unwrap_or_default();
            events.emit(journal.sid, EventType::Stopped, data).await;
            if let Err(e) = store.deliver(&mut record.body, false).await {
                tracing::error!(sid = %journal.sid, error = %e, "cannot queue the upload of a recovered recording; housekeeping retries");
            }
            if let Err(e) = store.index.save(record) {
                tracing::error!(sid = %journal.sid, error = %e, "cannot save a recovered recording; its journal is kept");
                return Err(());
            }
            tracing::warn!(sid = %journal.sid, filename = journal.filename, "recovered a recording left by a crash");
            Ok(true)
        }
        Err(e) => {
            tracing::error!(sid = %journal.sid, error = %e, "cannot recover a recording; its journal is kept");
            Err(())
        }
    }
}

/// Repairs the files a journal names and describes them as a finished recording (not yet
/// delivered nor saved). `None` when the recording never had audio: its start failed before the
/// mix file existed, and there is nothing to list or upload.
pub async fn repair(
    journal: &Journal,
    dir: &Path,
    reason: StopReason,
    history: Vec<HistoryEvent>,
) -> Result<Option<Recording>, AudioError> {
    let journal = journal.clone();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || repair_files(&journal, &dir, reason, history))
        .await
        .unwrap_or_else(|e| Err(AudioError::Wav(format!("the repair task failed: {e}"))))
}

fn repair_files(
    journal: &Journal,
    dir: &Path,
    reason: StopReason,
    history: Vec<HistoryEvent>,
) -> Result<Option<Recording>, AudioError> {
    let mix_path = dir.join(&journal.filename);
    if !mix_path.exists() {
        return Ok(None);
    }
    let mix = wav::repair(&mix_path)?;
    let stopped_at = std::fs::metadata(&mix_path)
        .and_then(|m| m.modified())
        .map(OffsetDateTime::from)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());

    let mut speakers = Vec::new();
    if journal.speakers {
        for (uid, path) in speaker_files(journal, dir) {
            let info = wav::repair(&path)?;
            speakers.push(SpeakerFile {
                uid,
                filename: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                duration: info.duration_ms(),
                file_size: info.bytes,
                firebase: None,
                local: None,
            });
        }
        speakers.sort_by_key(|s| s.uid);
    }

    let channel = RecordingChannel::parse(&journal.channel);
    let part =
        |f: fn(&RecordingChannel) -> &str| channel.as_ref().map(f).unwrap_or_default().to_owned();
    let body = StopAnswer {
        sid: journal.sid,
        channel: journal.channel.clone(),
        group_id: part(RecordingChannel::group_id),
        user1: part(RecordingChannel::user1),
        user2: part(RecordingChannel::user2),
        filename: journal.filename.clone(),
        format: "wav".into(),
        duration: mix.duration_ms(),
        file_size: mix.bytes,
        firebase: None,
        local: None,
        status: "stopped".into(),
        stop_reason: reason,
        speakers: journal.speakers.then_some(speakers),
        upload: None,
        uid: journal.uid,
        started_at: journal.started_at,
        stopped_at,
        segments: None,
        assembly: None,
    };
    Ok(Some(Recording {
        body,
        created_at: OffsetDateTime::now_utc(),
        history,
        lease: journal.lease.clone(),
        segmented: None,
    }))
}

/// `{stem}_{uid}.wav` files of the journal's recording.
fn speaker_files(journal: &Journal, dir: &Path) -> Vec<(u32, PathBuf)> {
    let prefix = format!("{}_", journal.stem());
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let uid = name
                .strip_prefix(&prefix)?
                .strip_suffix(".wav")?
                .parse::<u32>()
                .ok()?;
            Some((uid, entry.path()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_journal_whose_start_failed_before_any_audio_recovers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal {
            sid: uuid::Uuid::new_v4(),
            channel: "g_a_b".into(),
            uid: 999_999,
            filename: "g_a_b_2026-01-01T00-00-00.wav".into(),
            speakers: false,
            started_at: OffsetDateTime::now_utc(),
            lease: None,
            continues: None,
        };
        let repaired = repair(&journal, dir.path(), StopReason::Error, Vec::new())
            .await
            .unwrap();
        assert!(repaired.is_none());
    }
}
