//! Reading and measuring WAV files: tone presence (Goertzel), dropouts, edges, alignment.

use std::path::Path;

pub struct Wav {
    pub spec: hound::WavSpec,
    pub samples: Vec<i16>,
}

impl Wav {
    pub fn read(path: &Path) -> Wav {
        let mut reader =
            hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec = reader.spec();
        let samples = reader.samples::<i16>().map(Result::unwrap).collect();
        Wav { spec, samples }
    }

    pub fn duration_ms(&self) -> f64 {
        self.samples.len() as f64 / 16.0
    }

    fn window(&self, start_ms: f64, len_ms: f64) -> &[i16] {
        let a = ((start_ms * 16.0) as usize).min(self.samples.len());
        let b = (((start_ms + len_ms) * 16.0) as usize).min(self.samples.len());
        &self.samples[a..b]
    }

    /// Amplitude of `freq` in the window (Goertzel), in sample units.
    pub fn tone_level(&self, freq: f64, start_ms: f64, len_ms: f64) -> f64 {
        goertzel(self.window(start_ms, len_ms), freq)
    }

    pub fn rms(&self, start_ms: f64, len_ms: f64) -> f64 {
        let w = self.window(start_ms, len_ms);
        if w.is_empty() {
            return 0.0;
        }
        (w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
    }

    /// Whether `freq` is clearly present in each 10 ms window.
    pub fn tone_mask(&self, freq: f64) -> Vec<bool> {
        (0..(self.duration_ms() / 10.0) as usize)
            .map(|i| self.tone_level(freq, i as f64 * 10.0, 10.0) > TONE_THRESHOLD)
            .collect()
    }

    /// `[start_ms, end_ms)` runs where `freq` is present (gaps under 50 ms bridged; runs under
    /// 60 ms dropped: the click of another tone starting or stopping leaks into every band).
    pub fn tone_segments(&self, freq: f64) -> Vec<(f64, f64)> {
        let mask = self.tone_mask(freq);
        let mut segments: Vec<(f64, f64)> = Vec::new();
        for (i, on) in mask.iter().enumerate() {
            if !on {
                continue;
            }
            let t = i as f64 * 10.0;
            match segments.last_mut() {
                Some(last) if t - last.1 <= 50.0 => last.1 = t + 10.0,
                _ => segments.push((t, t + 10.0)),
            }
        }
        segments.retain(|(from, to)| to - from >= 60.0);
        segments
    }

    /// 10 ms windows inside `[from, to)` whose level is far below the tone's (a dropout).
    pub fn dropouts(&self, from_ms: f64, to_ms: f64) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = from_ms;
        while t + 10.0 <= to_ms {
            if self.rms(t, 10.0) < DROPOUT_RMS {
                out.push(t);
            }
            t += 10.0;
        }
        out
    }
}

/// A tone of gain 0.25–0.3 reads ~8000–10000; silence reads ~0.
pub const TONE_THRESHOLD: f64 = 1500.0;
/// Below this RMS a 10 ms window is silent.
pub const DROPOUT_RMS: f64 = 300.0;

pub fn goertzel(x: &[i16], freq: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 16_000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in x {
        let s = f64::from(*v) + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s2 * s2 + s1 * s1 - k * s1 * s2;
    power.max(0.0).sqrt() / x.len() as f64 * 2.0
}

/// The lag (in samples, within ±max_lag) at which `b` best matches `a` (normalised correlation).
pub fn best_lag(a: &[i16], b: &[i16], max_lag: i64) -> i64 {
    let n = a.len().min(b.len()) as i64;
    let score = |lag: i64| -> f64 {
        let mut sum = 0.0;
        let mut i = max_lag;
        while i < n - max_lag {
            sum += f64::from(a[i as usize]) * f64::from(b[(i + lag) as usize]);
            i += 1;
        }
        sum
    };
    (-max_lag..=max_lag)
        .max_by(|x, y| score(*x).total_cmp(&score(*y)))
        .unwrap_or(0)
}
