//! WAV files (16 kHz, mono, s16): written as audio arrives, valid on disk at every moment that
//! matters, and repairable after a crash. The only module that uses `hound`.
//!
//! hound's `flush` rewrites the header's sizes; [`WavFile`] does it at least every
//! [`HEADER_FLUSH_INTERVAL`], so a killed process leaves a file that plays up to that point and
//! whose tail [`repair`] recovers. Data is also synced to disk every [`SYNC_EVERY_SAMPLES`], so the
//! final sync at stop never has more than that to write (stop costs the same after a minute or
//! four hours) and a power cut loses at most that much.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{AudioError, OUTPUT_RATE};

/// Longest time written samples may wait before the header says they exist.
pub const HEADER_FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// Samples between data syncs (10 s of audio, 320 KB).
pub const SYNC_EVERY_SAMPLES: u64 = 160_000;

/// The one format every file has.
pub fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: OUTPUT_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AudioError + '_ {
    move |source| AudioError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn wav_err(e: hound::Error) -> AudioError {
    match e {
        hound::Error::IoError(source) => AudioError::Io {
            path: String::new(),
            source,
        },
        other => AudioError::Wav(other.to_string()),
    }
}

/// A WAV file being written.
pub struct WavFile {
    writer: hound::WavWriter<BufWriter<File>>,
    /// A second handle on the same file, for syncing (hound keeps its own).
    sync: File,
    path: PathBuf,
    samples: u64,
    synced: u64,
    last_flush: Instant,
}

impl std::fmt::Debug for WavFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavFile")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .finish()
    }
}

/// A finished file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub samples: u64,
    pub bytes: u64,
}

impl WavInfo {
    /// Length in milliseconds: samples / 16.
    pub fn duration_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(OUTPUT_RATE)
    }
}

impl WavFile {
    /// Creates (or replaces) `path` with an empty WAV.
    pub fn create(path: &Path) -> Result<Self, AudioError> {
        let file = File::create(path).map_err(io_err(path))?;
        let sync = file.try_clone().map_err(io_err(path))?;
        let writer = hound::WavWriter::new(BufWriter::with_capacity(64 * 1024, file), spec())
            .map_err(wav_err)?;
        Ok(Self {
            writer,
            sync,
            path: path.to_owned(),
            samples: 0,
            synced: 0,
            last_flush: Instant::now(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn write(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        if samples.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        let mut w = self.writer.get_i16_writer(len);
        for s in samples.iter().take(len as usize) {
            w.write_sample(*s);
        }
        w.flush().map_err(wav_err)?;
        self.samples += u64::from(len);
        self.flush_if_due()
    }

    /// Appends `count` samples of silence.
    pub fn write_silence(&mut self, mut count: u64) -> Result<(), AudioError> {
        const BLOCK: usize = 16_000;
        let zeros = [0i16; BLOCK];
        while count > 0 {
            let n = count.min(BLOCK as u64) as usize;
            self.write(&zeros[..n])?;
            count -= n as u64;
        }
        Ok(())
    }

    fn flush_if_due(&mut self) -> Result<(), AudioError> {
        if self.samples - self.synced >= SYNC_EVERY_SAMPLES {
            self.flush()?;
            self.sync.sync_data().map_err(io_err(&self.path))?;
            self.synced = self.samples;
        } else if self.last_flush.elapsed() >= HEADER_FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes buffered samples and updates the header's sizes.
    pub fn flush(&mut self) -> Result<(), AudioError> {
        self.last_flush = Instant::now();
        self.writer.flush().map_err(wav_err)
    }

    /// Final header, data synced to disk.
    pub fn finalize(self) -> Result<WavInfo, AudioError> {
        let path = self.path;
        self.writer.finalize().map_err(wav_err)?;
        let file = File::open(&path).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        let bytes = file.metadata().map_err(io_err(&path))?.len();
        Ok(WavInfo {
            samples: self.samples,
            bytes,
        })
    }
}

/// Reads a finished file's length.
pub fn info(path: &Path) -> Result<WavInfo, AudioError> {
    let reader = hound::WavReader::open(path).map_err(wav_err)?;
    let samples = u64::from(reader.duration());
    let bytes = std::fs::metadata(path).map_err(io_err(path))?.len();
    Ok(WavInfo { samples, bytes })
}

/// Makes a file left by a killed writer valid: the header's sizes are set to the data actually on
/// disk (cut to whole samples). A file too short to hold a header is rewritten as an empty WAV.
pub fn repair(path: &Path) -> Result<WavInfo, AudioError> {
    let err = io_err(path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(&err)?;
    let len = file.metadata().map_err(&err)?.len();
    let mut head = vec![0u8; len.min(4096) as usize];
    file.read_exact(&mut head).map_err(&err)?;
    let Some(data_start) = find_data_chunk(&head) else {
        drop(file);
        WavFile::create(path)?.finalize()?;
        return info(path);
    };
    let data_len = (len - data_start) & !1;
    let data_len32 = u32::try_from(data_len).unwrap_or(!1);
    let total = data_start + u64::from(data_len32);
    file.set_len(total).map_err(&err)?;
    file.seek(SeekFrom::Start(4)).map_err(&err)?;
    file.write_all(&u32::try_from(total - 8).unwrap_or(u32::MAX).to_le_bytes())
        .map_err(&err)?;
    file.seek(SeekFrom::Start(data_start - 4)).map_err(&err)?;
    file.write_all(&data_len32.to_le_bytes()).map_err(&err)?;
    file.sync_all().map_err(&err)?;
    drop(file);
    info(path)
}

/// Cuts a finished file to its first `samples` samples (header rewritten).
pub fn truncate(path: &Path, samples: u64) -> Result<WavInfo, AudioError> {
    let err = io_err(path);
    let mut head = vec![0u8; 4096];
    let n = {
        let mut f = File::open(path).map_err(&err)?;
        f.read(&mut head).map_err(&err)?
    };
    let data_start = find_data_chunk(&head[..n])
        .ok_or_else(|| AudioError::Wav(format!("{} has no data chunk", path.display())))?;
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(data_start + samples * 2))
        .map_err(&err)?;
    repair(path)
}

/// Offset of the `data` chunk's first byte, walking the RIFF chunks of a `WAVE` header.
fn find_data_chunk(head: &[u8]) -> Option<u64> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]);
        if id == b"data" {
            return Some((at + 8) as u64);
        }
        at = at.checked_add(8 + size as usize + (size as usize & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_cut_off_mid_write_is_repaired_to_its_last_whole_sample() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut wav = WavFile::create(&path).unwrap();
        wav.write(&vec![1000i16; 16_000]).unwrap();
        wav.flush().unwrap();
        drop(wav.writer);
        // A crash after more samples reached the file but before the header said so, the last
        // sample torn in half.
        let mut tail: Vec<u8> = std::iter::repeat_n((-1000i16).to_le_bytes(), 8_000)
            .flatten()
            .collect();
        tail.push(0x42);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&tail)
            .unwrap();

        let info = repair(&path).unwrap();
        assert_eq!(info.samples, 24_000);
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec(), spec());
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 24_000);
        assert_eq!((samples[0], samples[23_999]), (1000, -1000));
    }

    #[test]
    fn an_empty_or_headerless_file_becomes_an_empty_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        std::fs::write(&path, b"RIF").unwrap();
        assert_eq!(repair(&path).unwrap().samples, 0);
        assert_eq!(info(&path).unwrap().bytes, 44);
    }

    #[test]
    fn a_finished_file_can_be_cut_to_a_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.wav");
        let mut wav = WavFile::create(&path).unwrap();
        wav.write(&(0..1000).map(|i| i as i16).collect::<Vec<_>>())
            .unwrap();
        wav.finalize().unwrap();
        assert_eq!(
            truncate(&path, 600).unwrap(),
            WavInfo {
                samples: 600,
                bytes: 44 + 1200
            }
        );
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!((samples.len(), samples[599]), (600, 599));
    }

    #[test]
    fn finalized_files_report_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wav");
        let mut wav = WavFile::create(&path).unwrap();
        wav.write_silence(40_000).unwrap();
        let done = wav.finalize().unwrap();
        assert_eq!(
            done,
            WavInfo {
                samples: 40_000,
                bytes: 44 + 80_000
            }
        );
        assert_eq!(done.duration_ms(), 2500);
        assert_eq!(info(&path).unwrap(), done);
    }
}
