//! Recorder load benchmark: CPU (% of one core) and memory (PSS) for N concurrent stand-in
//! sessions, the largest N whose every file is clean, and HTTP stop latency with real page flushes.
//!
//! `cargo run --release -p memharbor-testkit --example recorder_load -- [N ...]`
//! (default N = 1 5 10, then 12, 14, … until a run is not clean). Part of `make bench`.
//!
//! Each session has one participant speaking all along (a tone), or with `LOAD_SPEAKERS=2` two who
//! take turns, overlapping at every change, recorded with per-speaker files too. Their audio
//! arrives as remote WebRTC tracks from the Agora stand-in, sent by default from the recorder's own
//! tabs: the senders' Opus encoders and audio sources then run in the measured browser, and the
//! figures are an upper bound. `LOAD_CALLERS=outside` sends from a browser of its own
//! (`memharbor_testkit::callers`), as Agora's servers would: only the recorder's work is measured.

use std::path::Path;
use std::time::{Duration, Instant};

use memharbor_testkit::callers::Callers;
use memharbor_testkit::wav::Wav;
use memharbor_testkit::{Options, TestRecorder, spawn, tone};
use serde_json::{Value, json};

const WARMUP: Duration = Duration::from_secs(4);
const WINDOW: Duration = Duration::from_secs(15);

/// Two speakers: each speaks TURN_ON_MS of every TURN_PERIOD_MS, the second half a period after
/// the first, so every change of speaker overlaps by TURN_ON_MS - TURN_PERIOD_MS / 2 (500 ms).
const TURN_PERIOD_MS: u64 = 4000;
const TURN_ON_MS: u64 = 2500;
/// The first turn, after the subscription (which one speaker's check allows 1 s for).
const FIRST_TURN_MS: u64 = 1000;
/// Turns are scripted this far: longer than any run.
const SCRIPT_MS: u64 = 180_000;
/// How far a turn's edges in a file may be from the script's (after the file's own offset): the
/// path from a caller's microphone to the recorder's ear varies by tens of ms on a loaded box
/// (the receiving jitter buffer; seen up to ±80 ms at 10 sessions), as it does across Agora's
/// network. What the recorder does with what it hears is checked strictly: no silent 10 ms
/// inside a turn, nothing late or lost, each speaker's file exact in length and alone.
const EDGE_MS: f64 = 150.0;

/// How the sessions are set up.
struct Mode {
    /// `LOAD_CALLERS=outside`: participants send from this browser, not the recorder's.
    callers: Option<Callers>,
    /// `LOAD_SPEAKERS`: 1 or 2 participants per session.
    speakers: usize,
}

/// This process (with `itself`), every process whose command line holds `needle` (a Chromium's
/// profile folder), and all their descendants (the headless shell's renderers and utilities do
/// not repeat the profile on their command lines).
fn pids(needle: &Path, itself: bool) -> Vec<u32> {
    let needle = needle.display().to_string();
    let mut out = if itself {
        vec![std::process::id()]
    } else {
        Vec::new()
    };
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            out.push(pid);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    // Descendants of the Chromiums found (not of this process: the callers' browser is its child).
    let mut roots: Vec<u32> = out
        .iter()
        .copied()
        .filter(|p| *p != std::process::id())
        .collect();
    while let Some(root) = roots.pop() {
        for (pid, ppid) in &parents {
            if *ppid == root && !out.contains(pid) {
                out.push(*pid);
                roots.push(*pid);
            }
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

/// The recorder (this process) and every Chromium process it started.
fn recorder_pids(recordings: &Path) -> Vec<u32> {
    pids(&recordings.join(".memharbor/profiles"), true)
}

fn ticks(pids: &[u32]) -> u64 {
    pids.iter().map(|p| cpu_ticks(*p)).sum()
}

/// Speech segments from `first_ms` on, one turn every period.
fn turns(first_ms: u64) -> Vec<(u64, u64)> {
    (first_ms..SCRIPT_MS)
        .step_by(TURN_PERIOD_MS as usize)
        .map(|from| (from, from + TURN_ON_MS))
        .collect()
}

/// A participant who publishes at join and speaks in `turns` with a tone.
fn speaker(uid: u32, freq: u32, turns: &[(u64, u64)]) -> Value {
    let speech: Vec<Value> = turns
        .iter()
        .map(|(from, to)| json!({"from": from, "to": to}))
        .collect();
    json!({"uid": uid, "joinAt": 0, "publishAt": 0, "speech": speech,
           "audio": {"type": "tone", "frequency": freq, "gain": 0.3}})
}

/// One speaker all along: the tone from the first second to the end, without a gap.
fn heard_throughout(wav: &Wav, freq: f64) -> bool {
    let segments = wav.tone_segments(freq);
    segments.len() == 1
        && segments[0].0 < 1000.0
        && segments[0].1 >= wav.duration_ms() - 50.0
        && wav
            .dropouts(segments[0].0 + 50.0, segments[0].1 - 50.0)
            .is_empty()
}

/// `freq` is heard exactly in its turns: the first within 0.5 s of when it was said (the file's
/// offset from the script), every later one at the same offset (edges within EDGE_MS), each
/// without a gap, and nothing between. The turn the stop cuts counts from its start only; turns
/// after the file's end are not looked for.
fn heard_in_turns(wav: &Wav, freq: f64, turns: &[(u64, u64)]) -> bool {
    let found = wav.tone_segments(freq);
    let end = wav.duration_ms();
    let (Some(first), Some(turn)) = (found.first(), turns.first()) else {
        return false;
    };
    let offset = first.0 - turn.0 as f64;
    let complete = turns
        .iter()
        .filter(|t| t.1 as f64 + offset <= end - 100.0)
        .count();
    (-100.0..=500.0).contains(&offset)
        && found.len() >= complete
        && found.iter().zip(turns).all(|(seg, turn)| {
            let cut = seg.1 >= end - 20.0;
            (seg.0 - (turn.0 as f64 + offset)).abs() <= EDGE_MS
                && (cut || (seg.1 - (turn.1 as f64 + offset)).abs() <= EDGE_MS)
                && wav.dropouts(seg.0 + 50.0, seg.1 - 50.0).is_empty()
        })
}

/// A speaker: uid, tone frequency, turns (ms from time 0).
type Voice<'a> = (u32, f64, &'a [(u64, u64)]);

/// Two speakers: both in the mix in their turns; each speaker's file as long as the mix, with
/// its own turns and none of the other's voice.
fn two_speakers_clean(
    rec: &TestRecorder,
    stopped: &Value,
    mix: &Wav,
    voices: [Voice<'_>; 2],
) -> bool {
    let files = stopped["speakers"].as_array().cloned().unwrap_or_default();
    files.len() == 2
        && voices.iter().enumerate().all(|(k, (uid, freq, turns))| {
            let other = voices[1 - k].1;
            let Some(filename) = files
                .iter()
                .find(|f| f["uid"] == *uid)
                .and_then(|f| f["filename"].as_str())
            else {
                return false;
            };
            let file = rec.wav(filename);
            heard_in_turns(mix, *freq, turns)
                && file.samples.len().abs_diff(mix.samples.len()) <= 1
                && heard_in_turns(&file, *freq, turns)
                && file.tone_segments(other).is_empty()
        })
}

struct Run {
    n: usize,
    cpu_percent: f64,
    /// The callers' browser, not counted in `cpu_percent`.
    callers_cpu_percent: Option<f64>,
    pss_mb: f64,
    clean: usize,
    stop_ms: Vec<f64>,
}

async fn run(n: usize, mode: &Mode) -> Run {
    let channels: Vec<String> = (0..n).map(|i| format!("bench_u{i}_v{i}")).collect();
    let freq = |i: usize| 300 + 40 * i as u32;
    // The second speaker: a tone far enough from the first for 10 ms windows to tell them apart.
    let freq_b = |i: usize| freq(i) + 1000;
    let uid_b = |i: usize| 6000 + i as u32;
    let (turns_a, turns_b) = (
        turns(FIRST_TURN_MS),
        turns(FIRST_TURN_MS + TURN_PERIOD_MS / 2),
    );
    let scenario: serde_json::Map<String, Value> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let participants = if mode.speakers == 2 {
                vec![
                    speaker(5000 + i as u32, freq(i), &turns_a),
                    speaker(uid_b(i), freq_b(i), &turns_b),
                ]
            } else {
                vec![tone(5000 + i as u32, freq(i), 0, 3_600_000)]
            };
            (c.clone(), json!({"participants": participants}))
        })
        .collect();
    let mut scenario = json!({"channels": scenario});
    if let Some(callers) = &mode.callers {
        scenario["callers"] = callers.scenario();
        // A subscription then crosses two browsers and the relay: give it more time under load.
        scenario["subscribeTimeoutMs"] = json!(15_000);
    }
    let mut options = Options {
        scenario,
        max_sessions: 1000,
        ..Options::default()
    };
    // The levers measured one at a time (issue 17): the recorder's own settings, from the env.
    if let Some(binary) = std::env::var_os("RECORDER_CHROMIUM") {
        options.chromium = Some(binary.into());
    }
    if let Ok(extra) = std::env::var("RECORDER_CHROMIUM_EXTRA_ARGS") {
        options.extra_args.extend(
            recorder_svc::browser::parse_extra(&extra).expect("RECORDER_CHROMIUM_EXTRA_ARGS"),
        );
    }
    let rec: TestRecorder = spawn(options).await;
    let mut starts = Vec::new();
    for c in &channels {
        starts.push(rec.start(c, mode.speakers == 2).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(WARMUP).await;
    let watched = recorder_pids(&rec.recordings);
    let callers_watched = mode
        .callers
        .as_ref()
        .map(|c| pids(&c.profile, false))
        .unwrap_or_default();
    let (t0, callers_t0) = (ticks(&watched), ticks(&callers_watched));
    let begun = Instant::now();
    let mut pss = Vec::new();
    while begun.elapsed() < WINDOW {
        tokio::time::sleep(Duration::from_secs(3)).await;
        pss.push(
            recorder_pids(&rec.recordings)
                .iter()
                .map(|p| pss_kb(*p))
                .sum::<u64>(),
        );
    }
    let (t1, callers_t1) = (ticks(&watched), ticks(&callers_watched));
    let seconds = begun.elapsed().as_secs_f64();
    let cpu_percent = (t1 - t0) as f64 / seconds;
    let callers_cpu_percent = mode
        .callers
        .is_some()
        .then(|| callers_t1.saturating_sub(callers_t0) as f64 / seconds);
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
        let session = status["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["sid"] == started.body["sid"]));
        let lost = session.map_or(1, |s| {
            s["audio"]["missingChunks"].as_u64().unwrap_or(1)
                + s["audio"]["lateChunks"].as_u64().unwrap_or(1)
                + s["audio"]["lateAudioMs"].as_u64().unwrap_or(1)
        });
        let heard = if mode.speakers == 2 {
            two_speakers_clean(
                &rec,
                &body,
                &wav,
                [
                    (5000 + i as u32, f64::from(freq(i)), turns_a.as_slice()),
                    (uid_b(i), f64::from(freq_b(i)), turns_b.as_slice()),
                ],
            )
        } else {
            heard_throughout(&wav, f64::from(freq(i)))
        };
        clean += usize::from(heard && lost == 0);
        if !(heard && lost == 0) {
            // Why a session is not clean: its counters and what the mix holds.
            let runs = |f: u32| {
                let r = wav.tone_segments(f64::from(f));
                r.iter()
                    .take(4)
                    .map(|(a, b)| format!("{a:.0}-{b:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            eprintln!(
                "  not clean: {} audio {} heard {heard}; mix {:.0} ms, tone {} Hz at [{}], {} Hz at [{}]",
                body["channel"],
                session.map_or(Value::Null, |s| s["audio"].clone()),
                wav.duration_ms(),
                freq(i),
                runs(freq(i)),
                freq_b(i),
                runs(freq_b(i)),
            );
        }
    }
    stop_ms.sort_by(f64::total_cmp);
    Run {
        n,
        cpu_percent,
        callers_cpu_percent,
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
    if let Some(callers) = r.callers_cpu_percent {
        println!("     (the callers' browser, not counted: CPU {callers:>6.1} % of a core)");
    }
}

/// `LOAD_CALLERS_CPUS`: the callers' browser (and the processes it starts later, which inherit it)
/// runs on these cores only, so that with the bench itself under `taskset -c <the others>` the
/// recorder and the callers do not compete (`taskset -a -p -c`, util-linux).
fn pin(pids: &[u32], cpus: &str) {
    for pid in pids {
        let status = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "taskset -a -p -c {cpus} {pid}"
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let asked: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let callers = match std::env::var("LOAD_CALLERS").as_deref() {
        Ok("outside") => {
            let callers = Callers::start().await;
            if let Ok(cpus) = std::env::var("LOAD_CALLERS_CPUS") {
                pin(&pids(&callers.profile, false), &cpus);
            }
            Some(callers)
        }
        Ok("inside") | Err(_) => None,
        Ok(other) => panic!("LOAD_CALLERS={other}: expected inside (the default) or outside"),
    };
    let speakers = match std::env::var("LOAD_SPEAKERS").as_deref() {
        Ok("1") | Err(_) => 1,
        Ok("2") => 2,
        Ok(other) => panic!("LOAD_SPEAKERS={other}: expected 1 (the default) or 2"),
    };
    println!(
        "recorder load ({} cores); CPU and PSS of the recorder + its Chromium, over {} s after {} s warm-up; {} per session, sent from {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        WINDOW.as_secs(),
        WARMUP.as_secs(),
        if speakers == 2 {
            "two speakers taking turns"
        } else {
            "one speaker"
        },
        if callers.is_some() {
            "a browser of their own (LOAD_CALLERS=outside)"
        } else {
            "the recorder's own tabs"
        },
    );
    let mode = Mode { callers, speakers };
    let fixed = if asked.is_empty() {
        vec![1, 5, 10]
    } else {
        asked.clone()
    };
    for n in fixed {
        print(&run(n, &mode).await);
    }
    if asked.is_empty() {
        let mut largest = 10;
        for n in (12..=30).step_by(2) {
            let r = run(n, &mode).await;
            print(&r);
            if r.clean < r.n {
                break;
            }
            largest = n;
        }
        println!("largest N with every session clean: {largest}");
    }
}
