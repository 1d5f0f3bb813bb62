//! Splicing segments into one file: a recording continued on other recorders (failover,
//! hand-over) becomes one WAV on its wall-clock timeline, silence where no segment has audio.
//! Streams block by block, so a four-hour recording costs the same memory as a minute.

use std::path::{Path, PathBuf};

use super::AudioError;
use super::wav::{self, WavFile, WavInfo};

/// Samples per block copied.
const BLOCK: usize = 16_000;

/// A piece of a segment's file placed on the output's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The segment's file for this stream (`None`: the stream was silent in that segment).
    pub src: Option<PathBuf>,
    /// Output position (16 kHz samples) of the piece's first sample.
    pub at: u64,
    /// Samples of the source skipped before the piece (its overlap with the previous segment).
    pub skip: u64,
    pub len: u64,
}

/// Writes `out` with exactly `total` samples: each piece at its place (ordered, not
/// overlapping), silence elsewhere. Written beside `out` and renamed over it when complete.
pub fn splice(out: &Path, total: u64, pieces: &[Piece]) -> Result<WavInfo, AudioError> {
    let tmp = out.with_extension("splicing");
    let mut file = WavFile::create(&tmp)?;
    for piece in pieces {
        let at = piece.at.min(total);
        if at > file.samples() {
            file.write_silence(at - file.samples())?;
        }
        let len = piece.len.min(total - file.samples());
        let copied = match &piece.src {
            Some(src) => copy(src, piece.skip, len, &mut file)?,
            None => 0,
        };
        file.write_silence(len - copied)?;
    }
    file.write_silence(total - file.samples())?;
    let info = file.finalize()?;
    std::fs::rename(&tmp, out).map_err(|source| AudioError::Io {
        path: out.display().to_string(),
        source,
    })?;
    Ok(info)
}

/// Copies up to `len` samples of `src` from sample `skip`; the number copied (less if it is
/// shorter).
fn copy(src: &Path, skip: u64, len: u64, out: &mut WavFile) -> Result<u64, AudioError> {
    let mut reader = hound::WavReader::open(src).map_err(|e| AudioError::Wav(e.to_string()))?;
    let available = u64::from(reader.duration()).saturating_sub(skip);
    let len = len.min(available);
    if len == 0 {
        return Ok(0);
    }
    reader
        .seek(u32::try_from(skip).unwrap_or(u32::MAX))
        .map_err(|source| AudioError::Io {
            path: src.display().to_string(),
            source,
        })?;
    let mut samples = reader.samples::<i16>();
    let mut block = Vec::with_capacity(BLOCK);
    let mut left = len;
    while left > 0 {
        block.clear();
        for sample in samples.by_ref().take(left.min(BLOCK as u64) as usize) {
            block.push(sample.map_err(|e| AudioError::Wav(e.to_string()))?);
        }
        if block.is_empty() {
            break;
        }
        out.write(&block)?;
        left -= block.len() as u64;
    }
    Ok(len - left)
}

/// Up to `len` samples of `src` from sample `from` (fewer if it is shorter, none if it cannot
/// be read).
pub fn read(src: &Path, from: u64, len: u64) -> Vec<i16> {
    let Ok(mut reader) = hound::WavReader::open(src) else {
        return Vec::new();
    };
    if reader
        .seek(u32::try_from(from).unwrap_or(u32::MAX))
        .is_err()
    {
        return Vec::new();
    }
    reader
        .samples::<i16>()
        .take(usize::try_from(len).unwrap_or(usize::MAX))
        .map_while(Result::ok)
        .collect()
}

/// A segment file's length in samples (0 if it cannot be read).
pub fn samples(path: &Path) -> u64 {
    wav::info(path).map_or(0, |i| i.samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, value: i16, n: usize) -> PathBuf {
        let path = dir.join(name);
        let mut f = WavFile::create(&path).unwrap();
        f.write(&vec![value; n]).unwrap();
        f.finalize().unwrap();
        path
    }

    #[test]
    fn pieces_land_at_their_places_with_silence_between_and_the_exact_length() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.wav", 100, 1_000);
        let b = file(dir.path(), "b.wav", 200, 1_000);
        let out = dir.path().join("out.wav");
        let pieces = [
            Piece {
                src: Some(a),
                at: 0,
                skip: 0,
                len: 1_000,
            },
            // b overlapped a by 100 samples: they are skipped, after a gap of 0.
            Piece {
                src: Some(b),
                at: 1_500,
                skip: 100,
                len: 900,
            },
            Piece {
                src: None,
                at: 2_400,
                skip: 0,
                len: 50,
            },
        ];
        let info = splice(&out, 3_000, &pieces).unwrap();
        assert_eq!(info.samples, 3_000);
        let got: Vec<i16> = hound::WavReader::open(&out)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert!(got[..1_000].iter().all(|&s| s == 100));
        assert!(got[1_000..1_500].iter().all(|&s| s == 0));
        assert!(got[1_500..2_400].iter().all(|&s| s == 200));
        assert!(got[2_400..].iter().all(|&s| s == 0));
    }
}
