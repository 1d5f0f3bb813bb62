//! At start-up, finish what a killed run left: each journal names a recording that was never
//! stopped. Its files are repaired (headers fixed to the audio actually on disk), it is listed with
//! `stopReason: "error"`, and its journal is removed.

use std::path::Path;

use time::OffsetDateTime;

use crate::audio::wav;
use crate::session::journal::{self, Journal};
use crate::session::view::{HistoryEvent, SpeakerFile, StopBody, StopReason, iso_ms};
use crate::storage::{Destination, RecordIndex, StoredRecording};
use memharbor_shared::channel::RecordingChannel;

/// Recovers every recording with a journal in `journal_dir`; returns how many.
pub async fn recover(
    journal_dir: &Path,
    recordings_dir: &Path,
    index: &RecordIndex,
    destination: &Destination,
) -> usize {
    let mut recovered = 0;
    for journal in journal::all(journal_dir) {
        if index.get(journal.sid).is_none() {
            match recover_one(&journal, recordings_dir, destination).await {
                Ok(record) => {
                    if let Err(e) = index.save(record) {
                        tracing::error!(sid = %journal.sid, error = %e, "cannot save a recovered recording");
                        continue;
                    }
                    recovered += 1;
                    tracing::warn!(sid = %journal.sid, filename = journal.filename, "recovered a recording left by a crash");
                }
                Err(e) => {
                    tracing::error!(sid = %journal.sid, error = %e, "cannot recover a recording; its journal is kept");
                    continue;
                }
            }
        }
        journal::remove(journal_dir, journal.sid);
    }
    recovered
}

async fn recover_one(
    journal: &Journal,
    dir: &Path,
    destination: &Destination,
) -> Result<StoredRecording, crate::audio::AudioError> {
    let mix_path = dir.join(&journal.filename);
    let mix = if mix_path.exists() {
        wav::repair(&mix_path)?
    } else {
        wav::WavFile::create(&mix_path)?.finalize()?
    };
    let stopped_at = std::fs::metadata(&mix_path)
        .and_then(|m| m.modified())
        .map(OffsetDateTime::from)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());

    let mut speakers = Vec::new();
    if journal.speakers {
        let prefix = format!("{}_", journal.stem());
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let uid = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".wav"))
                .and_then(|uid| uid.parse::<u32>().ok());
            if let Some(uid) = uid {
                let info = wav::repair(&entry.path())?;
                speakers.push(SpeakerFile {
                    uid,
                    filename: name,
                    duration: info.duration_ms(),
                    file_size: info.bytes,
                    firebase: None,
                    local: None,
                });
            }
        }
        speakers.sort_by_key(|s| s.uid);
    }

    let channel = RecordingChannel::parse(&journal.channel);
    let part =
        |f: fn(&RecordingChannel) -> &str| channel.as_ref().map(f).unwrap_or_default().to_owned();
    let mut body = StopBody {
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
        stop_reason: StopReason::Error,
        speakers: journal.speakers.then_some(speakers),
        upload: None,
        uid: journal.uid,
        started_at: journal.started_at.clone(),
        stopped_at: iso_ms(stopped_at),
    };
    destination.deliver(&mut body, false).await;
    Ok(StoredRecording {
        body,
        created_at: iso_ms(OffsetDateTime::now_utc()),
        history: vec![HistoryEvent::now(
            "recovered",
            Some("the recorder stopped unexpectedly; the audio on disk was kept and its header repaired".into()),
        )],
    })
}
