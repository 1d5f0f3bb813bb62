//! Recorder load benchmark: CPU (% of one core) and memory (PSS) for N concurrent stand-in
//! sessions, the largest N whose every file is clean, and HTTP stop latency with real page flushes.
//!
//! `cargo run --release -p memharbor-testkit --example recorder_load -- [N ...]`
//! (default N = 1 5 10, then 12, 14, … until a run is not clean). Part of `make bench`.
//!
//! Each session has one participant (a tone, delivered as a remote WebRTC track by the stand-in in
//! the same tab): the stand-in's own encoder runs in the measured browser, so these figures are an
//! upper bound for Agora, whose servers do the sending.

use std::path::Path;
use std::time::{Duration, Instant};

use memharbor_testkit::{Options, TestRecorder, spawn, tone};
use serde_json::json;

const WARMUP: Duration = Duration::from_secs(4);
const WINDOW: Duration = Duration::from_secs(15);

/// The recorder (this process) and every Chromium process it started.
fn pids(recordings: &Path) -> Vec<u32> {
    let needle = recordings.join(".memharbor/profiles").display().to_string();
    let mut out = vec![std::process::id()];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            out.push(pid);
        }
    }
    out
}

/// utime + stime in clock ticks (USER_HZ = 100).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
}

fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Pss:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Run {
    n: usize,
    cpu_percent: f64,
    pss_mb: f64,
    clean: usize,
    stop_ms: Vec<f64>,
}

async fn run(n: usize) -> Run {
    let channels: Vec<String> = (0..n).map(|i| format!("bench_u{i}_v{i}")).collect();
    let freq = |i: usize| 300 + 40 * i as u32;
    let scenario: serde_json::Map<String, serde_json::Value> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.clone(),
                json!({"participants": [tone(5000 + i as u32, freq(i), 0, 3_600_000)]}),
            )
        })
        .collect();
    let rec: TestRecorder = spawn(Options {
        scenario: json!({"channels": scenario}),
        max_sessions: 1000,
        ..Options::default()
    })
    .await;
    let mut starts = Vec::new();
    for c in &channels {
        starts.push(rec.start(c, false).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(WARMUP).await;
    let watched = pids(&rec.recordings);
    let t0: u64 = watched.iter().map(|p| cpu_ticks(*p)).sum();
    let begun = Instant::now();
    let mut pss = Vec::new();
    while begun.elapsed() < WINDOW {
        tokio::time::sleep(Duration::from_secs(3)).await;
        pss.push(
            pids(&rec.recordings)
                .iter()
                .map(|p| pss_kb(*p))
                .sum::<u64>(),
        );
    }
    let t1: u64 = watched.iter().map(|p| cpu_ticks(*p)).sum();
    let cpu_percent = (t1 - t0) as f64 / begun.elapsed().as_secs_f64();
    let (_, status) = rec.get("/status").await;
    let mut stop_ms = Vec::new();
    let mut clean = 0;
    for (i, started) in starts.iter().enumerate() {
        let sent = Instant::now();
        let (code, body) = rec.stop(json!({"sid": started.body["sid"]})).await;
        stop_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        if code != 200 {
            continue;
        }
        let wav = rec.wav(body["filename"].as_str().unwrap_or_default());
        let segments = wav.tone_segments(f64::from(freq(i)));
        let session = status["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["sid"] == started.body["sid"]));
        let lost = session.map_or(1, |s| {
            s["audio"]["missingChunks"].as_u64().unwrap_or(1)
                + s["audio"]["lateChunks"].as_u64().unwrap_or(1)
                + s["audio"]["lateAudioMs"].as_u64().unwrap_or(1)
        });
        let ok = segments.len() == 1
            && segments[0].0 < 1000.0
            && segments[0].1 >= wav.duration_ms() - 50.0
            && wav
                .dropouts(segments[0].0 + 50.0, segments[0].1 - 50.0)
                .is_empty()
            && lost == 0;
        clean += usize::from(ok);
    }
    stop_ms.sort_by(f64::total_cmp);
    Run {
        n,
        cpu_percent,
        pss_mb: pss.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        clean,
        stop_ms,
    }
}

fn print(r: &Run) {
    println!(
        "{:>3} sessions: CPU {:>6.1} % of a core ({:>5.1} %/session), PSS {:>7.0} MB ({:>5.1} MB/session), clean {}/{}, HTTP stop median {:.0} ms max {:.0} ms",
        r.n,
        r.cpu_percent,
        r.cpu_percent / r.n as f64,
        r.pss_mb,
        r.pss_mb / r.n as f64,
        r.clean,
        r.n,
        r.stop_ms[r.stop_ms.len() / 2],
        r.stop_ms[r.stop_ms.len() - 1],
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let asked: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    println!(
        "recorder load ({} cores); CPU and PSS of the recorder + its Chromium, over {} s after {} s warm-up",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        WINDOW.as_secs(),
        WARMUP.as_secs()
    );
    let fixed = if asked.is_empty() {
        vec![1, 5, 10]
    } else {
        asked.clone()
    };
    for n in fixed {
        print(&run(n).await);
    }
    if asked.is_empty() {
        let mut largest = 10;
        for n in (12..=30).step_by(2) {
            let r = run(n).await;
            print(&r);
            if r.clean < r.n {
                break;
            }
            largest = n;
        }
        println!("largest N with every session clean: {largest}");
    }
}
