//! Hand-over seams aligned by what both recorders heard. Two recorders hear a channel through
//! their own jitter buffers, so their latencies differ by tens of ms (more on a loaded box); a
//! seam placed on the wall clock alone would then repeat or skip that much audio. Over the
//! overlap both recorded, the lag between the two mixes' loudness envelopes is found by
//! correlation, and the later segment is read shifted by it.

/// 16 kHz samples per envelope step (1 ms).
const STEP: usize = 16;
/// The largest lag looked for, in envelope steps (ms).
pub const MAX_LAG_MS: usize = 150;
/// The longest stretch compared, in ms.
pub const WINDOW_MS: usize = 800;
/// Shorter stretches say too little.
pub const MIN_WINDOW_MS: usize = 100;
/// An envelope flatter than this (mean absolute deviation, in sample units) has nothing to align
/// on: silence or a steady sound.
const MIN_SPREAD: f64 = 100.0;
/// The correlation a lag needs to be believed.
const MIN_CORRELATION: f64 = 0.8;

/// Mean absolute sample per 1 ms step.
fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(STEP)
        .map(|c| c.iter().map(|s| f64::from(*s).abs()).sum::<f64>() / c.len() as f64)
        .collect()
}

/// How many samples later `next` hears what `prev` heard. `prev` is the earlier segment over the
/// `window_ms` before the seam; `next` the later one from `MAX_LAG_MS` before that window to
/// `MAX_LAG_MS` after it. `None` when there is nothing to align on or no lag stands out.
pub fn lag(prev: &[i16], next: &[i16], window_ms: usize) -> Option<i64> {
    let a = envelope(prev);
    let b = envelope(next);
    if a.len() < window_ms || b.len() < window_ms + 2 * MAX_LAG_MS {
        return None;
    }
    let a = &a[..window_ms];
    let mean_a = a.iter().sum::<f64>() / a.len() as f64;
    let spread = a.iter().map(|x| (x - mean_a).abs()).sum::<f64>() / a.len() as f64;
    if spread < MIN_SPREAD {
        return None;
    }
    let (mut best, mut best_corr) = (0i64, f64::MIN);
    for shift in 0..=2 * MAX_LAG_MS {
        let w = &b[shift..shift + window_ms];
        let mean_b = w.iter().sum::<f64>() / w.len() as f64;
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(w) {
            let (x, y) = (x - mean_a, y - mean_b);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        let corr = if aa > 0.0 && bb > 0.0 {
            ab / (aa * bb).sqrt()
        } else {
            0.0
        };
        let lag = shift as i64 - MAX_LAG_MS as i64;
        // Ties go to the smaller lag: a seam moves only as far as the evidence says.
        if corr > best_corr + 1e-9 || (corr >= best_corr - 1e-9 && lag.abs() < best.abs()) {
            (best, best_corr) = (lag, corr);
        }
    }
    (best_corr >= MIN_CORRELATION).then_some(best * STEP as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Beeps: 200 ms of a loud square-ish tone every 500 ms, starting `offset_ms` in.
    fn beeps(ms: usize, offset_ms: usize) -> Vec<i16> {
        (0..ms * 16)
            .map(|i| {
                let t = (i / 16 + 1000 - offset_ms) % 500;
                if t < 200 {
                    if (i / 18) % 2 == 0 { 8000 } else { -8000 }
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn a_later_recorder_is_found_late_by_its_lag() {
        let window = 400;
        // What the earlier recorder heard over the window, and the later one over the window
        // widened by MAX_LAG_MS on both sides, hearing everything 70 ms later.
        let prev = beeps(window, 0);
        let wide = beeps(window + 2 * MAX_LAG_MS, MAX_LAG_MS + 70);
        assert_eq!(lag(&prev, &wide, window), Some(70 * 16));
        let early = beeps(window + 2 * MAX_LAG_MS, MAX_LAG_MS - 40);
        assert_eq!(lag(&prev, &early, window), Some(-40 * 16));
    }

    #[test]
    fn silence_or_a_steady_sound_gives_no_lag() {
        let window = 400;
        let silence = vec![0i16; window * 16];
        let wide = vec![0i16; (window + 2 * MAX_LAG_MS) * 16];
        assert_eq!(lag(&silence, &wide, window), None);
        let steady: Vec<i16> = (0..window * 16)
            .map(|i| if i % 36 < 18 { 5000 } else { -5000 })
            .collect();
        let steady_wide: Vec<i16> = (0..(window + 2 * MAX_LAG_MS) * 16)
            .map(|i| if i % 36 < 18 { 5000 } else { -5000 })
            .collect();
        assert_eq!(lag(&steady, &steady_wide, window), None);
    }
}
