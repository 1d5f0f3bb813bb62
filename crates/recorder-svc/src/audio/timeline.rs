//! The session's timeline, in 48 kHz ticks from the moment recording started.
//!
//! Each page instance (an *epoch*: the first tab, then any tab reopened after a crash) has its own
//! frame counter: the capture worker's position on the wall clock, 48 frames per millisecond from
//! the instant capture started, which the page reports with one frame. Within an epoch, positions
//! come from frame counters only (exact, no drift). Epoch 0 defines the origin; a later epoch is placed by
//! the wall clock, so the time a crashed tab was away becomes a gap the writers fill with silence.

use std::collections::HashMap;

use super::INPUT_RATE;

const TICKS_PER_MS: f64 = INPUT_RATE as f64 / 1000.0;

#[derive(Debug, Clone, Copy)]
struct Epoch {
    frame_ref: u64,
    /// Timeline position of `frame_ref`.
    base: i64,
}

/// Maps (epoch, frame) to timeline positions.
#[derive(Debug, Default)]
pub struct Timeline {
    origin_ms: Option<f64>,
    epochs: HashMap<u32, Epoch>,
}

impl Timeline {
    /// Registers an epoch: `frame_ref` is heard at `wall_ms` (Unix milliseconds). The first epoch
    /// sets the origin (position 0).
    pub fn start_epoch(&mut self, epoch: u32, frame_ref: u64, wall_ms: f64) {
        let origin = *self.origin_ms.get_or_insert(wall_ms);
        let base = ((wall_ms - origin) * TICKS_PER_MS).round() as i64;
        self.epochs.insert(epoch, Epoch { frame_ref, base });
    }

    /// Unix milliseconds of position 0, once the first epoch started.
    pub fn origin_ms(&self) -> Option<f64> {
        self.origin_ms
    }

    /// Position of `frame` in `epoch`; `None` for an unknown epoch or a frame before the origin.
    pub fn position(&self, epoch: u32, frame: u64) -> Option<u64> {
        let e = self.epochs.get(&epoch)?;
        let offset = i64::try_from(frame).ok()? - i64::try_from(e.frame_ref).ok()?;
        u64::try_from(e.base + offset).ok()
    }

    /// Position of a wall-clock instant (0 before the origin or without one).
    pub fn position_at(&self, wall_ms: f64) -> u64 {
        self.origin_ms.map_or(0, |origin| {
            ((wall_ms - origin) * TICKS_PER_MS).round().max(0.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_within_an_epoch_and_wall_time_across_epochs() {
        let mut t = Timeline::default();
        t.start_epoch(0, 1_000, 1_000_000.0);
        assert_eq!(t.position(0, 1_000), Some(0));
        assert_eq!(t.position(0, 49_000), Some(48_000));
        assert_eq!(t.position(0, 999), None);
        assert_eq!(t.position(1, 5), None);
        // A reopened tab whose frame 77 is heard 3.5 s after the origin.
        t.start_epoch(1, 77, 1_003_500.0);
        assert_eq!(t.position(1, 77), Some(168_000));
        assert_eq!(t.position(1, 77 + 480), Some(168_480));
        assert_eq!(t.position_at(1_010_000.0), 480_000);
        assert_eq!(t.origin_ms(), Some(1_000_000.0));
    }
}
