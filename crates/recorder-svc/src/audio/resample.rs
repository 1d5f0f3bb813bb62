//! 48 kHz float mono → 16 kHz s16 mono with FFmpeg's resampler (libswresample: windowed-sinc
//! low-pass and decimation, not sample dropping). The only module that uses `ffmpeg-next`.
//!
//! The resampler holds back a few samples (its filter's delay) and gives them up on `flush`; over
//! a whole stream, output sample k corresponds to input sample 3k.

use ffmpeg_next::software::resampling;
use ffmpeg_next::util::format::sample::{Sample, Type};
use ffmpeg_next::{ChannelLayout, frame};

use super::{AudioError, INPUT_RATE, OUTPUT_RATE};

fn err(e: ffmpeg_next::Error) -> AudioError {
    AudioError::Resampler(e.to_string())
}

/// A streaming resampler for one stream.
pub struct Resampler {
    ctx: resampling::Context,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resampler(48k f32 → 16k s16)")
    }
}

impl Resampler {
    pub fn new() -> Result<Self, AudioError> {
        let ctx = resampling::Context::get(
            Sample::F32(Type::Packed),
            ChannelLayout::MONO,
            INPUT_RATE,
            Sample::I16(Type::Packed),
            ChannelLayout::MONO,
            OUTPUT_RATE,
        )
        .map_err(err)?;
        Ok(Self { ctx })
    }

    /// Resamples `input`, appending what is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<i16>) -> Result<(), AudioError> {
        if input.is_empty() {
            return Ok(());
        }
        let mut frame_in =
            frame::Audio::new(Sample::F32(Type::Packed), input.len(), ChannelLayout::MONO);
        frame_in.set_rate(INPUT_RATE);
        frame_in.plane_mut::<f32>(0)[..input.len()].copy_from_slice(input);
        let mut frame_out = frame::Audio::empty();
        self.ctx.run(&frame_in, &mut frame_out).map_err(err)?;
        append(&frame_out, out);
        Ok(())
    }

    /// Gives up the samples still held back.
    pub fn flush(&mut self, out: &mut Vec<i16>) -> Result<(), AudioError> {
        loop {
            let mut frame_out =
                frame::Audio::new(Sample::I16(Type::Packed), 4096, ChannelLayout::MONO);
            frame_out.set_rate(OUTPUT_RATE);
            let more = self.ctx.flush(&mut frame_out).map_err(err)?;
            let produced = frame_out.samples();
            append(&frame_out, out);
            if more.is_none() || produced == 0 {
                return Ok(());
            }
        }
    }
}

fn append(frame: &frame::Audio, out: &mut Vec<i16>) {
    let n = frame.samples();
    if n > 0 {
        out.extend_from_slice(&frame.plane::<i16>(0)[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, len: usize, offset: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (2.0 * std::f32::consts::PI * freq * (i + offset) as f32 / 48_000.0).sin() * 0.5
            })
            .collect()
    }

    fn resample_in_chunks(input: &[f32], chunk: usize) -> Vec<i16> {
        let mut r = Resampler::new().unwrap();
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            r.process(part, &mut out).unwrap();
        }
        r.flush(&mut out).unwrap();
        out
    }

    #[test]
    fn one_third_of_the_samples_whatever_the_chunking() {
        let input = tone(440.0, 48_000, 0);
        for chunk in [128, 2048, 4801, 48_000] {
            let out = resample_in_chunks(&input, chunk);
            assert!(
                (out.len() as i64 - 16_000).abs() <= 1,
                "chunk {chunk}: {}",
                out.len()
            );
        }
    }

    #[test]
    fn output_sample_k_is_input_sample_3k() {
        // An impulse at input 30_000 lands at output 10_000.
        let mut input = vec![0.0f32; 48_000];
        input[30_000] = 1.0;
        let out = resample_in_chunks(&input, 2048);
        let peak = out
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| v.unsigned_abs())
            .unwrap()
            .0;
        assert!((peak as i64 - 10_000).abs() <= 1, "peak at {peak}");
    }

    #[test]
    fn content_above_8_khz_is_filtered_not_aliased() {
        // 12 kHz would alias to 4 kHz with plain decimation.
        let out = resample_in_chunks(&tone(12_000.0, 48_000, 0), 2048);
        let rms = (out[100..15_900]
            .iter()
            .map(|s| f64::from(*s).powi(2))
            .sum::<f64>()
            / 15_800.0)
            .sqrt();
        assert!(rms < 300.0, "aliasing energy {rms}");
        let pass = resample_in_chunks(&tone(1_000.0, 48_000, 0), 2048);
        let rms = (pass[100..15_900]
            .iter()
            .map(|s| f64::from(*s).powi(2))
            .sum::<f64>()
            / 15_800.0)
            .sqrt();
        assert!(rms > 10_000.0, "passband {rms}");
    }
}
