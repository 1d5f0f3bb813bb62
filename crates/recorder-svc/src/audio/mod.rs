//! From the page's PCM chunks to WAV files on disk, as the audio arrives.
//!
//! `protocol` parses the page's binary chunks; `timeline` places them on the session's timeline
//! (epochs, gaps, overlaps); `resample` (the only ffmpeg user) turns 48 kHz float into 16 kHz s16;
//! `wav` (the only hound user) writes files that stay valid if the process dies; `track` ties one
//! stream together; `recording` runs a session's streams on their own thread.

pub mod protocol;
pub mod recording;
pub mod resample;
pub mod splice;
pub mod timeline;
pub mod track;
pub mod wav;

/// Sample rate of the page's timeline, and so of every chunk (the page resamples anything else).
pub const INPUT_RATE: u32 = 48_000;
/// Sample rate of every file we write.
pub const OUTPUT_RATE: u32 = 16_000;
/// Input samples per output sample.
pub const DECIMATION: u64 = (INPUT_RATE / OUTPUT_RATE) as u64;

/// Why audio could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("WAV writer: {0}")]
    Wav(String),
    #[error("resampler: {0}")]
    Resampler(String),
}
