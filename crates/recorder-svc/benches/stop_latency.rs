//! Stop latency after 1 and 60 minutes of recording, fed faster than real time: the real audio
//! thread (mix + two speakers, resampling, WAV writing) gets the page's chunks as fast as it takes
//! them, then `finish` (what stop waits for) is timed. Target: flat, under 300 ms.
//!
//! `cargo bench -p recorder-svc --bench stop_latency` (part of `make bench`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use recorder_svc::audio::protocol::{self, Chunk, StreamId};
use recorder_svc::audio::recording::{AudioMsg, AudioPaths, RecordingAudio};
use recorder_svc::metrics::AudioCounters;

const CHUNK: usize = 2048;

fn chunk(stream: StreamId, seq: u32, frame: u64, freq: f32) -> bytes::Bytes {
    let samples = (0..CHUNK)
        .map(|i| {
            (2.0 * std::f32::consts::PI * freq * (frame + i as u64) as f32 / 48_000.0).sin() * 0.2
        })
        .collect();
    protocol::encode(&Chunk {
        stream,
        seq,
        frame,
        samples,
    })
    .into()
}

fn run(minutes: u64) -> (Duration, Duration, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let audio = RecordingAudio::start(
        AudioPaths {
            dir: dir.path().to_owned(),
            mix: "bench.wav".into(),
            speaker_stem: Some("bench".into()),
        },
        AudioCounters::default(),
        Box::new(|_| {}),
    )
    .expect("audio starts");
    let start_ms = 1_700_000_000_000.0;
    audio.send(AudioMsg::Epoch {
        epoch: 0,
        frame: 0,
        wall_ms: start_ms,
    });
    let chunks = minutes * 60 * 48_000 / CHUNK as u64;
    // A few distinct chunks reused (with their headers patched) keeps generation out of the timing.
    let templates = [
        chunk(StreamId::Mix, 0, 0, 440.0),
        chunk(StreamId::Speaker(1), 0, 0, 440.0),
        chunk(StreamId::Speaker(2), 0, 0, 660.0),
    ];
    let fed = Instant::now();
    for i in 0..chunks {
        let frame = i * CHUNK as u64;
        for template in &templates {
            let mut bytes = template.to_vec();
            bytes[8..12].copy_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_le_bytes());
            bytes[12..20].copy_from_slice(&frame.to_le_bytes());
            audio.send(AudioMsg::Chunk {
                epoch: 0,
                bytes: bytes.into(),
            });
        }
        // Keep the queue short, as a real page would (it cannot send faster than it records).
        if i % 256 == 255 {
            let target = (i + 1) * CHUNK as u64 / 3 - 2048;
            while audio.stats().mix_samples.load(Ordering::Relaxed) < target {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    let end_ms = start_ms + (chunks * CHUNK as u64) as f64 / 48.0;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Wait until everything fed is written: stop is then measured alone.
    let target = chunks * CHUNK as u64 / 3 - 2048;
    while audio.stats().mix_samples.load(Ordering::Relaxed) < target {
        std::thread::sleep(Duration::from_millis(1));
    }
    let feeding = fed.elapsed();
    let stop = Instant::now();
    let finished = runtime.block_on(audio.finish(end_ms)).expect("finish");
    (stop.elapsed(), feeding, finished.mix.duration_ms())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("stop_latency: bench");
        return;
    }
    println!("stop latency (audio thread: mix + 2 speakers, finalize + fsync of 3 files)");
    for minutes in [1, 60] {
        let runs: Vec<_> = (0..3).map(|_| run(minutes)).collect();
        let mut stops: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        stops.sort();
        let (_, feeding, duration_ms) = runs[0];
        println!(
            "  {minutes:>2} min recording ({duration_ms} ms written, fed in {:.1} s = {:.0}× real time): stop median {:.1} ms, max {:.1} ms",
            feeding.as_secs_f64(),
            duration_ms as f64 / 1000.0 / feeding.as_secs_f64(),
            stops[1].as_secs_f64() * 1000.0,
            stops[2].as_secs_f64() * 1000.0,
        );
    }
}
