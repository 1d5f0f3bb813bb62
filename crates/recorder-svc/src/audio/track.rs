//! One stream's file: chunks placed on the timeline, resampled, written, gaps filled with silence.

use std::path::Path;

use super::resample::Resampler;
use super::wav::{WavFile, WavInfo};
use super::{AudioError, DECIMATION};

/// Gaps up to this many input ticks (200 ms) go through the resampler as zeros; longer ones are
/// written as silence directly (a speaker absent for an hour costs nothing to pad).
const SHORT_GAP: u64 = 9_600;

/// What placing a chunk did, for the session's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Input ticks of silence inserted before the chunk.
    pub gap: u64,
    /// Input ticks of the chunk dropped because the timeline already had them.
    pub overlap: u64,
}

/// A stream's writer.
///
/// Invariants: the input sample at timeline position `next` is the next one fed; every resampler
/// starts at a position divisible by 3 and yields exactly a third of what it is fed (see
/// [`Self::drain`]), so the file always holds `next / 3` samples once drained: every stream of a
/// session ends with the same length, to the sample.
#[derive(Debug)]
pub struct TrackWriter {
    resampler: Resampler,
    /// Input fed to / output taken from the current resampler.
    fed: u64,
    made: u64,
    wav: WavFile,
    next: u64,
    out: Vec<i16>,
}

impl TrackWriter {
    pub fn create(path: &Path) -> Result<Self, AudioError> {
        Ok(Self {
            resampler: Resampler::new()?,
            fed: 0,
            made: 0,
            wav: WavFile::create(path)?,
            next: 0,
            out: Vec::with_capacity(4096),
        })
    }

    /// Timeline position (input ticks) up to which this stream is written.
    pub fn position(&self) -> u64 {
        self.next
    }

    pub fn samples_written(&self) -> u64 {
        self.wav.samples()
    }

    /// Places `samples` starting at timeline position `pos`.
    pub fn write_at(&mut self, pos: u64, samples: &[f32]) -> Result<Placement, AudioError> {
        let mut placement = Placement::default();
        let mut samples = samples;
        if pos > self.next {
            placement.gap = pos - self.next;
            self.fill_to(pos)?;
        } else if pos < self.next {
            let skip = ((self.next - pos) as usize).min(samples.len());
            placement.overlap = skip as u64;
            samples = &samples[skip..];
        }
        if !samples.is_empty() {
            self.feed(samples)?;
        }
        Ok(placement)
    }

    /// Silence up to `pos` (no-op if already there).
    pub fn fill_to(&mut self, pos: u64) -> Result<(), AudioError> {
        let gap = pos.saturating_sub(self.next);
        if gap == 0 {
            return Ok(());
        }
        if gap <= SHORT_GAP {
            return self.feed(&vec![0.0; gap as usize]);
        }
        // Long gap: drain the resampler, write silence at the output rate up to the last position
        // divisible by 3, start a fresh resampler there, and feed the remaining ticks as zeros.
        self.drain()?;
        let aligned = pos / DECIMATION * DECIMATION;
        self.wav.write_silence((aligned - self.next) / DECIMATION)?;
        self.next = aligned;
        if pos > aligned {
            self.feed(&vec![0.0; (pos - aligned) as usize])?;
        }
        Ok(())
    }

    fn feed(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        self.out.clear();
        self.resampler.process(samples, &mut self.out)?;
        self.made += self.out.len() as u64;
        self.fed += samples.len() as u64;
        self.wav.write(&self.out)?;
        self.next += samples.len() as u64;
        Ok(())
    }

    /// Ends the current resampler: its held-back samples are written, trimmed or padded so that
    /// it yields exactly a third of its input, and a fresh one takes over. After this the file holds
    /// `next / 3` samples and `next` is divisible by 3.
    fn drain(&mut self) -> Result<(), AudioError> {
        self.out.clear();
        self.resampler.flush(&mut self.out)?;
        let owed = (self.fed / DECIMATION).saturating_sub(self.made) as usize;
        self.out.resize(owed, 0);
        self.wav.write(&self.out)?;
        // Drop the odd ticks that make no whole output sample.
        self.next -= self.fed % DECIMATION;
        self.resampler = Resampler::new()?;
        self.fed = 0;
        self.made = 0;
        Ok(())
    }

    /// Updates the file's header so everything written so far survives a crash.
    pub fn flush(&mut self) -> Result<(), AudioError> {
        self.wav.flush()
    }

    /// Pads with silence to `end` (input ticks), drains the resampler, finalizes the file, and
    /// cuts anything past `end` (a chunk that arrived before the stop but ran past it): the file
    /// holds exactly `end / 3` samples, like every other stream of the session.
    pub fn finish(mut self, end: u64) -> Result<WavInfo, AudioError> {
        self.fill_to(end)?;
        self.drain()?;
        let path = self.wav.path().to_owned();
        let info = self.wav.finalize()?;
        let target = end / DECIMATION;
        if info.samples > target {
            return super::wav::truncate(&path, target);
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(len: usize) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.05).sin() * 0.3).collect()
    }

    #[test]
    fn every_stream_ends_at_exactly_a_third_of_the_end_position() {
        let dir = tempfile::tempdir().unwrap();
        let end = 480_001;
        // A continuous stream, and one with a short gap, a long gap and an overlap.
        let mut continuous = TrackWriter::create(&dir.path().join("a.wav")).unwrap();
        for chunk in tone(480_000).chunks(2048) {
            let at = continuous.position();
            continuous.write_at(at, chunk).unwrap();
        }
        let mut overrun = TrackWriter::create(&dir.path().join("c.wav")).unwrap();
        overrun.write_at(0, &tone(481_000)).unwrap();
        assert_eq!(overrun.finish(end).unwrap().samples, end / 3);
        let mut gappy = TrackWriter::create(&dir.path().join("b.wav")).unwrap();
        gappy.write_at(10_001, &tone(2048)).unwrap();
        gappy.write_at(13_000, &tone(2048)).unwrap();
        assert_eq!(gappy.write_at(14_000, &tone(2048)).unwrap().overlap, 1048);
        gappy.write_at(200_000, &tone(4096)).unwrap();
        let a = continuous.finish(end).unwrap();
        let b = gappy.finish(end).unwrap();
        assert_eq!(a.samples, end / 3);
        assert_eq!(b.samples, end / 3);
    }
}
