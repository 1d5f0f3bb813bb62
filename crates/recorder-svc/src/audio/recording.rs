//! A session's audio, on its own thread: chunks in, WAV files out, as the audio arrives.
//!
//! The session supervisor sends [`AudioMsg`]s in the order the page sent them. The thread owns
//! the mix writer and one writer per speaker (when asked for), keeps every header fresh (see
//! `wav::HEADER_FLUSH_INTERVAL`), and counts what arrived late, missing or malformed. Stopping costs
//! the same for a minute or four hours: drain the resamplers, pad, rewrite headers, fsync.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::protocol::{self, StreamId};
use super::timeline::Timeline;
use super::track::TrackWriter;
use super::wav::WavInfo;
use super::{AudioError, INPUT_RATE};
use crate::metrics::AudioCounters;

/// Messages from the session, in page order.
#[derive(Debug)]
pub enum AudioMsg {
    /// A page instance's capture started: its timeline `frame` is the instant `wall_ms` (Unix ms).
    Epoch {
        epoch: u32,
        frame: u64,
        wall_ms: f64,
    },
    /// A binary chunk from the page instance `epoch`.
    Chunk { epoch: u32, bytes: bytes::Bytes },
    /// The session stops at `wall_ms`: audio after it (still in flight from the page) is dropped.
    StopAt { wall_ms: f64 },
    /// Stop: pad every stream to the stop time, finalize, answer.
    Finish {
        stop_wall_ms: f64,
        reply: oneshot::Sender<Result<FinishedAudio, AudioError>>,
    },
    /// Abort quickly (SIGINT): write headers as they are and end; the files stay repairable.
    Abort,
}

/// Where a session's files go.
#[derive(Debug, Clone)]
pub struct AudioPaths {
    pub dir: PathBuf,
    /// The mix file's name.
    pub mix: String,
    /// `{stem}_{uid}.wav` for speakers, when per-speaker files are on.
    pub speaker_stem: Option<String>,
}

impl AudioPaths {
    pub fn speaker_file(&self, uid: u32) -> Option<String> {
        self.speaker_stem
            .as_ref()
            .map(|stem| format!("{stem}_{uid}.wav"))
    }
}

/// The finished files.
#[derive(Debug, Clone)]
pub struct FinishedAudio {
    pub mix: WavInfo,
    /// uid → (file name, info), every uid heard.
    pub speakers: BTreeMap<u32, (String, WavInfo)>,
}

/// Live counters, read by status and metrics.
#[derive(Debug, Default)]
pub struct AudioStats {
    /// Mix samples written (16 kHz).
    pub mix_samples: AtomicU64,
    /// Chunks whose sequence number skipped ahead (some never arrived).
    pub missing_chunks: AtomicU64,
    /// Chunks that arrived after the timeline had passed them (in part or whole).
    pub late_chunks: AtomicU64,
    /// Bytes that were not a chunk.
    pub bad_chunks: AtomicU64,
    /// Frames (48 kHz) of silence the page played while a track's audio was late (it reports them).
    pub late_frames: AtomicU64,
    /// Input ticks of silence inserted for gaps (crashes, missing chunks).
    pub gap_ticks: AtomicU64,
    /// Writes that failed (disk full, I/O errors): the session is ended and repaired at the first.
    pub write_errors: AtomicU64,
    /// Chunks placed implausibly far beyond the wall clock (a page counter gone wrong): dropped,
    /// so that no chunk can make a writer fill the disk with silence.
    pub future_chunks: AtomicU64,
    /// Latest RMS level per stream (0.0–1.0), for live meters.
    levels: Mutex<HashMap<StreamId, f32>>,
}

impl AudioStats {
    pub fn levels(&self) -> HashMap<StreamId, f32> {
        self.levels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How far beyond the wall clock a chunk may claim to be (the page mixes behind the clock, so a
/// real chunk is never ahead of it; two seconds absorbs clock steps).
pub const FUTURE_MARGIN_MS: f64 = 2_000.0;

/// Called once, from the audio thread, when a write first fails: the session should end.
pub type OnWriteError = Box<dyn Fn(String) + Send>;

fn wall_now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Handle to a session's audio thread.
#[derive(Debug)]
pub struct RecordingAudio {
    tx: mpsc::UnboundedSender<AudioMsg>,
    stats: Arc<AudioStats>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingAudio {
    /// Creates the mix file and starts the thread; `counters` are the service-wide totals;
    /// `on_write_error` hears of the first failed write.
    pub fn start(
        paths: AudioPaths,
        counters: AudioCounters,
        on_write_error: OnWriteError,
    ) -> Result<Self, AudioError> {
        let mix = TrackWriter::create(&paths.dir.join(&paths.mix))?;
        let stats = Arc::new(AudioStats::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            paths,
            timeline: Timeline::default(),
            end: None,
            mix,
            speakers: BTreeMap::new(),
            next_seq: HashMap::new(),
            stats: Arc::clone(&stats),
            counters,
            last_flush: Instant::now(),
            on_write_error: Some(on_write_error),
        };
        let thread = std::thread::Builder::new()
            .name("session-audio".into())
            .spawn(move || worker.run(rx))
            .map_err(|source| AudioError::Io {
                path: "(audio thread)".into(),
                source,
            })?;
        Ok(Self {
            tx,
            stats,
            thread: Some(thread),
        })
    }

    /// Queues a message; false if the thread has ended.
    pub fn send(&self, msg: AudioMsg) -> bool {
        self.tx.send(msg).is_ok()
    }

    pub fn stats(&self) -> &Arc<AudioStats> {
        &self.stats
    }

    /// Stops: every stream padded to `stop_wall_ms`, finalized and synced.
    pub async fn finish(mut self, stop_wall_ms: f64) -> Result<FinishedAudio, AudioError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.send(AudioMsg::Finish {
            stop_wall_ms,
            reply,
        });
        let result = if sent {
            answer
                .await
                .unwrap_or_else(|_| Err(AudioError::Wav("audio thread ended".into())))
        } else {
            Err(AudioError::Wav("audio thread ended".into()))
        };
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }

    /// Ends quickly, leaving repairable files (used on SIGINT).
    pub fn abort(mut self) {
        self.send(AudioMsg::Abort);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    paths: AudioPaths,
    timeline: Timeline,
    /// Timeline position where the session stops, once known.
    end: Option<u64>,
    mix: TrackWriter,
    speakers: BTreeMap<u32, TrackWriter>,
    next_seq: HashMap<(u32, StreamId), u32>,
    stats: Arc<AudioStats>,
    counters: AudioCounters,
    last_flush: Instant,
    on_write_error: Option<OnWriteError>,
}

impl Worker {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<AudioMsg>) {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                AudioMsg::Epoch {
                    epoch,
                    frame,
                    wall_ms,
                } => self.timeline.start_epoch(epoch, frame, wall_ms),
                AudioMsg::StopAt { wall_ms } => self.end = Some(self.timeline.position_at(wall_ms)),
                AudioMsg::Chunk { epoch, bytes } => {
                    if let Err(e) = self.chunk(epoch, &bytes) {
                        self.write_failed(&e);
                    }
                }
                AudioMsg::Finish {
                    stop_wall_ms,
                    reply,
                } => {
                    let _ = reply.send(self.finish(stop_wall_ms));
                    return;
                }
                AudioMsg::Abort => {
                    self.flush_all();
                    return;
                }
            }
            if self.last_flush.elapsed() >= Duration::from_millis(500) {
                self.flush_all();
            }
        }
        // The session went away without finishing (it crashed): leave repairable files.
        self.flush_all();
    }

    fn flush_all(&mut self) {
        self.last_flush = Instant::now();
        let mut failed = self.mix.flush().err();
        for writer in self.speakers.values_mut() {
            failed = writer.flush().err().or(failed);
        }
        if let Some(e) = failed {
            self.write_failed(&e);
        }
    }

    /// Counts a failed write; the first one tells the session, which ends and repairs the files.
    fn write_failed(&mut self, e: &AudioError) {
        self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
        self.counters.write_errors.inc();
        if let Some(tell) = self.on_write_error.take() {
            tracing::error!(error = %e, "writing audio failed; the session ends and its files are repaired");
            tell(e.to_string());
        }
    }

    fn chunk(&mut self, epoch: u32, bytes: &[u8]) -> Result<(), AudioError> {
        let chunk = match protocol::parse(bytes) {
            Ok(chunk) => chunk,
            Err(e) => {
                self.stats.bad_chunks.fetch_add(1, Ordering::Relaxed);
                self.counters.malformed.inc();
                tracing::warn!(error = %e, "malformed audio chunk dropped");
                return Ok(());
            }
        };
        let Some(pos) = self.timeline.position(epoch, chunk.frame) else {
            self.stats.late_chunks.fetch_add(1, Ordering::Relaxed);
            self.counters.late.inc();
            return Ok(());
        };
        if pos > self.timeline.position_at(wall_now_ms() + FUTURE_MARGIN_MS) {
            self.stats.future_chunks.fetch_add(1, Ordering::Relaxed);
            self.counters.malformed.inc();
            tracing::warn!(
                frame = chunk.frame,
                "an audio chunk placed beyond the wall clock was dropped"
            );
            return Ok(());
        }
        let expected = self.next_seq.entry((epoch, chunk.stream)).or_insert(0);
        if chunk.seq > *expected {
            self.stats
                .missing_chunks
                .fetch_add(u64::from(chunk.seq - *expected), Ordering::Relaxed);
            self.counters
                .missing
                .inc_by(u64::from(chunk.seq - *expected));
        }
        *expected = chunk.seq.wrapping_add(1);

        let rms = (chunk.samples.iter().map(|s| s * s).sum::<f32>()
            / chunk.samples.len().max(1) as f32)
            .sqrt();
        self.stats
            .levels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chunk.stream, rms);

        let writer = match chunk.stream {
            StreamId::Mix => &mut self.mix,
            StreamId::Speaker(uid) => {
                let Some(name) = self.paths.speaker_file(uid) else {
                    return Ok(());
                };
                match self.speakers.entry(uid) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(TrackWriter::create(&self.paths.dir.join(name))?)
                    }
                }
            }
        };
        let keep = match self.end {
            Some(end) if pos >= end => return Ok(()),
            Some(end) => chunk.samples.len().min((end - pos) as usize),
            None => chunk.samples.len(),
        };
        let placement = writer.write_at(pos, &chunk.samples[..keep])?;
        if placement.overlap > 0 {
            self.stats.late_chunks.fetch_add(1, Ordering::Relaxed);
            self.counters.late.inc();
        }
        if placement.gap > 0 && chunk.stream == StreamId::Mix {
            self.stats
                .gap_ticks
                .fetch_add(placement.gap, Ordering::Relaxed);
        }
        if chunk.stream == StreamId::Mix {
            self.stats
                .mix_samples
                .store(self.mix.samples_written(), Ordering::Relaxed);
        }
        Ok(())
    }

    fn finish(self, stop_wall_ms: f64) -> Result<FinishedAudio, AudioError> {
        // Every file ends exactly at the stop: padded with silence up to it, nothing after it.
        let end = self
            .end
            .unwrap_or_else(|| self.timeline.position_at(stop_wall_ms));
        let mix = self.mix.finish(end)?;
        let mut speakers = BTreeMap::new();
        for (uid, writer) in self.speakers {
            let info = writer.finish(end)?;
            let name = self.paths.speaker_file(uid).unwrap_or_default();
            speakers.insert(uid, (name, info));
        }
        Ok(FinishedAudio { mix, speakers })
    }
}

/// Input ticks in `ms` milliseconds.
pub fn ticks(ms: u64) -> u64 {
    ms * u64::from(INPUT_RATE) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::protocol::{Chunk, encode};

    #[tokio::test]
    async fn a_chunk_claiming_to_be_an_hour_ahead_is_dropped_not_padded_to() {
        let dir = tempfile::tempdir().unwrap();
        let audio = RecordingAudio::start(
            AudioPaths {
                dir: dir.path().to_owned(),
                mix: "m.wav".into(),
                speaker_stem: None,
            },
            AudioCounters::default(),
            Box::new(|_| {}),
        )
        .unwrap();
        let start = wall_now_ms();
        audio.send(AudioMsg::Epoch {
            epoch: 0,
            frame: 0,
            wall_ms: start,
        });
        for (seq, frame) in [(0, 0), (1, 48_000 * 3600)] {
            let chunk = Chunk {
                stream: StreamId::Mix,
                seq,
                frame,
                samples: vec![0.25; 480],
            };
            audio.send(AudioMsg::Chunk {
                epoch: 0,
                bytes: encode(&chunk).into(),
            });
        }
        let stats = Arc::clone(audio.stats());
        let finished = audio.finish(start + 200.0).await.unwrap();
        assert_eq!(finished.mix.duration_ms(), 200, "the file ends at the stop");
        assert_eq!(stats.future_chunks.load(Ordering::Relaxed), 1);
    }
}
