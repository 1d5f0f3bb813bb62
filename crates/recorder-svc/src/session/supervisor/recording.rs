//! The first tap of audio: the recording's file name (or a continuation's segment folder), its
//! journal, its audio thread, the start's answer and the events that announce it.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::Supervisor;
use crate::audio::recording::{AudioMsg, AudioPaths, RecordingAudio};
use crate::error::RecorderError;
use crate::journal::{self, Continues, Journal};
use crate::record::{StartAnswer, file_stamp, from_unix_ms};
use crate::session::handle::SessionCmd;
use crate::webhooks::EventType;

impl Supervisor {
    /// First tap: name the file, write the journal, start the audio thread, answer the start.
    /// A continuation keeps the recording's file name and start, and records a segment.
    pub(super) async fn begin_recording(
        &mut self,
        epoch: u32,
        frame: u64,
        wall_ms: f64,
    ) -> Result<(), RecorderError> {
        let (started_at, filename, audio_dir, continues) = match &self.continuation {
            Some(c) => (
                from_unix_ms(c.params.started_ms),
                c.params.filename.clone(),
                self.segment_dir()?,
                Some(Continues {
                    origin_ms: c.params.started_ms,
                    start_ms: wall_ms,
                    earlier: c.earlier.clone(),
                }),
            ),
            None => {
                let started_at = from_unix_ms(wall_ms);
                let filename = self.unique_filename(started_at);
                let dir = self.ctx.settings.recordings_dir.clone();
                (started_at, filename, dir, None)
            }
        };
        self.segment_start_ms = Some(wall_ms);
        let journal = Journal {
            sid: self.handle.sid,
            channel: self.handle.channel.as_str().to_owned(),
            uid: self.req.uid,
            filename: filename.clone(),
            speakers: self.handle.speakers,
            started_at,
            lease: self.lease(),
            continues,
        };
        let (dir, written, segment_dir) = (
            self.ctx.settings.journal_dir.clone(),
            journal.clone(),
            audio_dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&segment_dir)?;
            journal::write(&dir, &written)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| RecorderError::Internal(format!("cannot write the session journal: {e}")))?;
        let tell = Arc::clone(&self.handle);
        let audio = RecordingAudio::start(
            AudioPaths {
                dir: audio_dir.clone(),
                mix: filename.clone(),
                speaker_stem: self.handle.speakers.then(|| journal.stem().to_owned()),
            },
            self.ctx.metrics.audio.clone(),
            Box::new(move |error| {
                tell.send(SessionCmd::AudioFailed { error });
            }),
        )
        .map_err(|e| {
            // Nothing was recorded: no journal may claim otherwise (recovery would list an empty
            // recording), and no empty file stays behind.
            journal::remove(&self.ctx.settings.journal_dir, self.handle.sid);
            let _ = std::fs::remove_file(audio_dir.join(&filename));
            RecorderError::Internal(format!("cannot create the recording: {e}"))
        })?;
        self.journal = Some(journal);
        audio.send(AudioMsg::Epoch {
            epoch,
            frame,
            wall_ms,
        });
        let stats = Arc::clone(audio.stats());
        self.audio = Some(audio);
        self.started_at = Some(started_at);
        self.filename = Some(filename.clone());
        self.max_at = Some(Instant::now() + self.ctx.settings.max_duration);
        self.handle.update(|live| {
            live.filename = Some(filename.clone());
            live.started_at = Some(started_at);
            live.audio = Some(stats);
        });
        self.handle.record("recording", Some(filename.clone()));
        self.ctx.metrics.session_started(true);
        if let Some(c) = &self.continuation {
            self.ctx
                .events
                .emit(
                    self.handle.sid,
                    EventType::Continued,
                    json!({
                        "channel": self.handle.channel.as_str(),
                        "kind": c.kind,
                        "recorder": self.handle.recorder,
                        "from": c.earlier.last().map(|l| l.recorder.clone()),
                        "fencing": self.handle.fencing(),
                        "filename": filename,
                        "segmentStartedAt": crate::record::iso_ms(from_unix_ms(wall_ms)),
                    }),
                )
                .await;
        }
        if self.continuation.is_none() {
            if let Some(cluster) = &self.ctx.cluster {
                cluster.note_recording(
                    self.handle.sid.to_string(),
                    crate::cluster::RecordingParams {
                        filename: filename.clone(),
                        uid: self.req.uid,
                        speakers: self.handle.speakers,
                        app_id: self.req.app_id.clone(),
                        started_ms: wall_ms,
                    },
                );
            }
            // On disk before the start is answered.
            self.ctx
                .events
                .emit(
                    self.handle.sid,
                    EventType::Started,
                    json!({
                        "channel": self.handle.channel.as_str(),
                        "recorder": self.handle.recorder,
                        "uid": self.req.uid,
                        "filename": filename,
                        "startedAt": crate::record::iso_ms(started_at),
                        "speakers": self.handle.speakers,
                    }),
                )
                .await;
        }
        for uid in self.publishing.clone() {
            self.participant(EventType::ParticipantJoined, &uid, None)
                .await;
        }
        let _ = self.handle.started.send(Some(Ok(StartAnswer {
            sid: self.handle.sid,
            channel: self.handle.channel.as_str().to_owned(),
            uid: self.req.uid,
            filename,
            status: "recording".to_owned(),
            started_at,
            existing: false,
        })));
        Ok(())
    }

    /// A continuation's own folder for its segment's files.
    pub(super) fn segment_dir(&self) -> Result<std::path::PathBuf, RecorderError> {
        let (Some(continuity), Some(fencing)) = (&self.ctx.continuity, self.handle.fencing())
        else {
            return Err(RecorderError::Internal(
                "a continued session outside cluster mode".into(),
            ));
        };
        Ok(continuity.store.dir(self.handle.sid, fencing))
    }

    /// `{channel}_{YYYY-MM-DDTHH-MM-SS}.wav`, with `-2`, `-3`… if that name is taken.
    fn unique_filename(&self, started_at: OffsetDateTime) -> String {
        let base = format!(
            "{}_{}",
            self.handle.channel.as_str(),
            file_stamp(started_at)
        );
        (1..)
            .map(|n| {
                if n == 1 {
                    format!("{base}.wav")
                } else {
                    format!("{base}-{n}.wav")
                }
            })
            .find(|name| {
                !self.ctx.store.index.is_taken(name)
                    && !self.ctx.settings.recordings_dir.join(name).exists()
            })
            .unwrap_or_else(|| format!("{base}-{}.wav", uuid::Uuid::new_v4().simple()))
    }
}
