//! Assembly: a recording of several segments (on this recorder and others) becomes one WAV per
//! stream on the recording's wall-clock timeline. Each segment counts from where the previous one
//! ends (a hand-over's overlap is cut, never doubled; a failover's gap is silence) and never
//! beyond its own end (a recorder that lost its lease ends at its last renewed instant).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::audio::AudioError;
use crate::audio::splice::{self, Piece};
use crate::record::{SegmentSummary, SpeakerFile, from_unix_ms};

use super::align;
use super::segments::{SegmentMeta, SegmentStore};

/// 16 kHz samples per millisecond.
const PER_MS: f64 = 16.0;

fn at(ms: f64, origin_ms: f64) -> u64 {
    ((ms - origin_ms) * PER_MS).round().max(0.0) as u64
}

/// Where each segment's audio goes on the output's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub total: u64,
    /// Per segment (in order): output position, samples skipped, samples used.
    pub pieces: Vec<(SegmentMeta, u64, u64, u64)>,
    pub summaries: Vec<SegmentSummary>,
}

/// Plans `segments` (oldest first) into a recording of `origin_ms`..`stop_ms`; `len` gives a
/// segment's mix length in samples.
pub fn plan(
    segments: &[SegmentMeta],
    origin_ms: f64,
    stop_ms: f64,
    len: impl Fn(&SegmentMeta) -> u64,
) -> Plan {
    let total = at(stop_ms, origin_ms);
    let mut covered = 0u64;
    let mut pieces = Vec::new();
    let mut summaries = Vec::new();
    for seg in segments {
        let start = at(seg.start_ms, origin_ms);
        let end = (start + len(seg)).min(at(seg.end_ms, origin_ms)).min(total);
        let from = start.max(covered);
        let (gap, cut) = (from.saturating_sub(covered), from - start);
        summaries.push(SegmentSummary {
            recorder: seg.recorder.clone(),
            fencing: seg.fencing,
            started_at: from_unix_ms(seg.start_ms),
            stopped_at: from_unix_ms(seg.end_ms),
            gap_ms: (gap as f64 / PER_MS).round() as u64,
            cut_ms: (cut as f64 / PER_MS).round() as u64,
        });
        if from < end {
            pieces.push((seg.clone(), from, from - start, end - from));
            covered = end;
        }
    }
    Plan {
        total,
        pieces,
        summaries,
    }
}

/// Shifts each hand-over's later segment by the lag `align` hears at its seam, so what both
/// recorders heard is neither repeated nor skipped there; the streams of a segment move together.
/// A segment shifted later runs out that much before its planned end: the next seam moves back
/// to where its audio ends (the next segment recorded that stretch too); at the stop it is silence.
fn align_seams(pieces: &mut [(SegmentMeta, u64, u64, u64)], mix: impl Fn(&SegmentMeta) -> PathBuf) {
    const MS: u64 = PER_MS as u64;
    for k in 1..pieces.len() {
        let (head, tail) = pieces.split_at_mut(k);
        let (prev, next) = (&mut head[k - 1], &mut tail[0]);
        // Only where both were recording (a hand-over's overlap) and the pieces meet.
        if next.2 == 0 || prev.1 + prev.3 != next.1 {
            continue;
        }
        let prev_src = mix(&prev.0);
        let prev_end = prev.1 + splice::samples(&prev_src).saturating_sub(prev.2);
        if prev_end < next.1 {
            let back = (next.1 - prev_end).min(next.2).min(prev.3);
            prev.3 -= back;
            next.1 -= back;
            next.2 -= back;
            next.3 += back;
        }
        let window_ms = usize::try_from(next.2 / MS)
            .unwrap_or(usize::MAX)
            .saturating_sub(align::MAX_LAG_MS)
            .min(align::WINDOW_MS)
            .min(usize::try_from(prev.3 / MS).unwrap_or(usize::MAX));
        if window_ms < align::MIN_WINDOW_MS {
            continue;
        }
        let (window, max) = (window_ms as u64 * MS, align::MAX_LAG_MS as u64 * MS);
        let earlier = splice::read(&prev_src, prev.2 + prev.3 - window, window);
        let later = splice::read(&mix(&next.0), next.2 - window - max, window + 2 * max);
        let lag = align::lag(&earlier, &later, window_ms);
        tracing::info!(
            sid = %next.0.sid,
            fencing = next.0.fencing,
            lag_ms = lag.map(|l| l as f64 / PER_MS),
            "hand-over seam aligned on what both recorders heard (none: nothing to align on)"
        );
        if let Some(lag) = lag {
            next.2 = next.2.saturating_add_signed(lag);
        }
    }
}

/// What assembling wrote.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub duration: u64,
    pub file_size: u64,
    pub speakers: Vec<SpeakerFile>,
    pub summaries: Vec<SegmentSummary>,
}

/// Writes the mix `filename` (and `{stem}_{uid}.wav` per speaker when `speakers`) into `out`.
pub fn write(
    store: &SegmentStore,
    segments: &[SegmentMeta],
    out: &Path,
    filename: &str,
    speakers: bool,
    origin_ms: f64,
    stop_ms: f64,
) -> Result<Assembled, AudioError> {
    let src =
        |seg: &SegmentMeta, name: &str| -> PathBuf { store.dir(seg.sid, seg.fencing).join(name) };
    let mut plan = plan(segments, origin_ms, stop_ms, |seg| {
        splice::samples(&src(seg, &seg.mix))
    });
    align_seams(&mut plan.pieces, |seg| src(seg, &seg.mix));
    let pieces = |file: &dyn Fn(&SegmentMeta) -> Option<String>| -> Vec<Piece> {
        plan.pieces
            .iter()
            .map(|(seg, at, skip, len)| Piece {
                src: file(seg).map(|name| src(seg, &name)),
                at: *at,
                skip: *skip,
                len: *len,
            })
            .collect()
    };
    // The mix and each speaker's file are spliced side by side (each is a sequential copy,
    // bounded by the disk and one core).
    let uids: BTreeSet<u32> = if speakers {
        segments
            .iter()
            .flat_map(|s| s.speakers.iter().map(|(uid, _)| *uid))
            .collect()
    } else {
        BTreeSet::new()
    };
    let stem = filename.strip_suffix(".wav").unwrap_or(filename);
    let (mix, files) = std::thread::scope(|scope| {
        let speaker_jobs: Vec<_> = uids
            .iter()
            .map(|&uid| {
                let name = format!("{stem}_{uid}.wav");
                let pieces = pieces(&|seg| {
                    seg.speakers
                        .iter()
                        .find(|(u, _)| *u == uid)
                        .map(|(_, n)| n.clone())
                });
                let path = out.join(&name);
                let total = plan.total;
                (
                    uid,
                    name,
                    scope.spawn(move || splice::splice(&path, total, &pieces)),
                )
            })
            .collect();
        let mix = splice::splice(
            &out.join(filename),
            plan.total,
            &pieces(&|seg| Some(seg.mix.clone())),
        );
        let mut files = Vec::new();
        for (uid, filename, job) in speaker_jobs {
            let info = job
                .join()
                .map_err(|_| AudioError::Wav(format!("splicing {filename} panicked")))??;
            files.push(SpeakerFile {
                uid,
                filename,
                duration: info.duration_ms(),
                file_size: info.bytes,
                firebase: None,
                local: None,
            });
        }
        Ok::<_, AudioError>((mix?, files))
    })?;
    Ok(Assembled {
        duration: mix.duration_ms(),
        file_size: mix.bytes,
        speakers: files,
        summaries: plan.summaries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(fencing: u64, start_ms: f64, end_ms: f64) -> SegmentMeta {
        SegmentMeta {
            sid: uuid::Uuid::nil(),
            fencing,
            recorder: format!("r{fencing}"),
            start_ms,
            end_ms,
            mix: "m.wav".into(),
            speakers: Vec::new(),
        }
    }

    #[test]
    fn a_failover_leaves_a_gap_and_a_handover_cuts_the_overlap() {
        let len = |s: &SegmentMeta| ((s.end_ms - s.start_ms) * 16.0) as u64;
        // Failover: the first ends at 10 s, the second starts at 14 s.
        let p = plan(
            &[seg(1, 0.0, 10_000.0), seg(2, 14_000.0, 30_000.0)],
            0.0,
            30_000.0,
            len,
        );
        assert_eq!(p.total, 480_000);
        assert_eq!(p.pieces[1].1, 224_000);
        assert_eq!((p.summaries[1].gap_ms, p.summaries[1].cut_ms), (4_000, 0));
        // Hand-over: the second started 2 s before the first stopped: those 2 s are cut.
        let p = plan(
            &[seg(1, 0.0, 10_000.0), seg(2, 8_000.0, 30_000.0)],
            0.0,
            30_000.0,
            len,
        );
        assert_eq!((p.pieces[1].1, p.pieces[1].2), (160_000, 32_000));
        assert_eq!((p.summaries[1].gap_ms, p.summaries[1].cut_ms), (0, 2_000));
        // A segment wholly inside the previous one adds nothing.
        let p = plan(
            &[seg(1, 0.0, 10_000.0), seg(2, 2_000.0, 9_000.0)],
            0.0,
            10_000.0,
            len,
        );
        assert_eq!(p.pieces.len(), 1);
    }
}
