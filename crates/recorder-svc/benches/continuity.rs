//! Continuity figures (issue 14), on the test harness's cluster (Google's Firestore emulator,
//! fake-gcs-server, recorder processes with the SDK stand-in beeping on the Unix clock):
//! - assembly time of a 60-minute recording in three segments (mix and one speaker), local and
//!   with two segments fetched from another recorder over loopback;
//! - the failover gap over 10 kills (kill -9 of the owner, restarted after it is continued);
//! - the hand-over seam over 10 SIGTERMs: the largest silent window where a beep should sound and
//!   the largest span of tone where none should (doubled audio), around each seam.
//!
//! `cargo bench -p recorder-svc --bench continuity` (part of `make bench`). `BENCH_HEARTBEAT_S`
//! and `BENCH_LEASE_S` set the cluster's heartbeat and lease (default: production's 3 s and 10 s);
//! `BENCH_PARTS` (default `assembly,handover,failover`) picks the parts.

// Test code: it unwraps like the tests do, and uses part of their harness.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/cluster/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{Cluster, Plan};
use memharbor_testkit::{self as kit, wav::Wav};
use recorder_svc::audio::wav::WavFile;
use recorder_svc::continuity::{Peers, SegmentMeta, SegmentStore, assembly};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ROUNDS: usize = 10;
const FREQ: f64 = 440.0;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn unix_ms(iso: &Value) -> f64 {
    OffsetDateTime::parse(iso.as_str().unwrap(), &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos() as f64
        / 1e6
}

fn stats(name: &str, mut xs: Vec<f64>, unit: &str) {
    xs.sort_by(f64::total_cmp);
    let median = xs[xs.len() / 2];
    let max = xs[xs.len() - 1];
    println!(
        "  {name:<48} n={:<3} median {median:>8.1} {unit}  max {max:>8.1} {unit}",
        xs.len()
    );
}

/// A segment of `minutes` of a 1 kHz-ish pattern, sealed in `store`.
fn segment(store: &SegmentStore, sid: uuid::Uuid, fencing: u64, start_ms: f64, minutes: f64) {
    let dir = store.dir(sid, fencing);
    std::fs::create_dir_all(&dir).unwrap();
    let samples = (minutes * 60.0 * 16_000.0) as usize;
    for name in ["m.wav", "m_1001.wav"] {
        let mut file = WavFile::create(&dir.join(name)).unwrap();
        let block: Vec<i16> = (0..16_000).map(|i| ((i % 16) as i16 - 8) * 1000).collect();
        let mut left = samples;
        while left > 0 {
            let n = left.min(block.len());
            file.write(&block[..n]).unwrap();
            left -= n;
        }
        file.finalize().unwrap();
    }
    store
        .seal(&SegmentMeta {
            sid,
            fencing,
            recorder: format!("rec-{}", fencing - 1),
            start_ms,
            end_ms: start_ms + minutes * 60_000.0,
            mix: "m.wav".into(),
            speakers: vec![(1001, "m_1001.wav".into())],
        })
        .unwrap();
}

async fn assembly_time(cluster: &Cluster) {
    println!("Assembly of a 60-minute recording in three 20-minute segments (mix + one speaker):");
    let sid = uuid::Uuid::new_v4();
    let origin = 1_770_120_000_000.0;
    // The second and third began 0.6 s before the previous one ended (hand-overs).
    let starts = [origin, origin + 1_199_400.0, origin + 2_398_800.0];
    let held = tempfile::tempdir().unwrap();
    let holder_store = SegmentStore::new(held.path());
    for (n, start) in starts.iter().enumerate() {
        segment(&holder_store, sid, n as u64 + 1, *start, 20.0);
    }
    let metas: Vec<SegmentMeta> = (1..=3).map(|f| holder_store.get(sid, f).unwrap()).collect();
    let stop = origin + 3_600_000.0;
    let out = tempfile::tempdir().unwrap();
    let mut local = Vec::new();
    for _ in 0..3 {
        let at = Instant::now();
        let done = assembly::write(
            &holder_store,
            &metas,
            out.path(),
            "m.wav",
            true,
            origin,
            stop,
        )
        .unwrap();
        local.push(at.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(done.duration, 3_600_000);
    }
    stats("local (3 segments on this disk)", local, "ms");

    // Two segments held by a recorder process, fetched over loopback as at a real stop.
    let node = &cluster.nodes[0];
    let node_store = SegmentStore::new(&node.recordings());
    for (n, start) in starts.iter().take(2).enumerate() {
        segment(&node_store, sid, n as u64 + 1, *start, 20.0);
    }
    let mut fetched = Vec::new();
    for _ in 0..3 {
        let here = tempfile::tempdir().unwrap();
        let store = SegmentStore::new(here.path());
        segment(&store, sid, 3, starts[2], 20.0);
        let peers = Peers::new(kit::internal_key());
        let at = Instant::now();
        let mut metas = Vec::new();
        for f in 1..=2 {
            metas.push(peers.fetch(&node.url, sid, f, &store).await.unwrap());
        }
        metas.push(store.get(sid, 3).unwrap());
        let (store2, dir) = (store.clone(), here.path().to_owned());
        tokio::task::spawn_blocking(move || {
            assembly::write(&store2, &metas, &dir, "m.wav", true, origin, stop).unwrap()
        })
        .await
        .unwrap();
        fetched.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    stats(
        "two of them fetched from a recorder (loopback)",
        fetched,
        "ms",
    );
}

fn beats_plan(recorders: usize) -> Plan {
    Plan {
        recorders,
        gateways: 1,
        heartbeat_s: env_u64("BENCH_HEARTBEAT_S", 3),
        lease_s: env_u64("BENCH_LEASE_S", 10),
        scenario: kit::everywhere(vec![json!({
            "uid": 1001, "joinAt": 0, "publishAt": 0,
            "wallBeats": {"periodMs": 1000, "onMs": 400, "forMs": 3_600_000},
            "audio": {"type": "tone", "frequency": FREQ, "gain": 0.3},
        })]),
        ..Plan::default()
    }
}

async fn owner(cluster: &Cluster, sid: &str) -> String {
    let route = cluster
        .document(&format!("memharbor_sessions/{sid}"))
        .await
        .unwrap();
    route["fields"]["recorder"]["stringValue"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn fencing(cluster: &Cluster, sid: &str) -> u64 {
    let route = cluster
        .document(&format!("memharbor_sessions/{sid}"))
        .await
        .unwrap();
    route["fields"]["fencing"]["integerValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn stop(cluster: &Cluster, sid: &str) -> Value {
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["assembly"]["state"], "complete", "{stopped}");
    stopped
}

async fn failover_gaps(cluster: &mut Cluster) {
    let (code, started) = cluster.start_via(0, "b_fail_1").await;
    assert_eq!(code, 200, "{started}");
    let sid = started["sid"].as_str().unwrap().to_owned();
    let mut noticed = Vec::new();
    for _ in 0..ROUNDS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (from, before) = (owner(cluster, &sid).await, fencing(cluster, &sid).await);
        let killed = Instant::now();
        cluster.node_mut(&from).kill();
        while fencing(cluster, &sid).await == before {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        noticed.push(killed.elapsed().as_secs_f64());
        cluster.node_mut(&from).restart();
        cluster.node(&from).wait_ready().await;
        cluster.wait_live(2).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopped = stop(cluster, &sid).await;
    let gaps: Vec<f64> = stopped["segments"].as_array().unwrap()[1..]
        .iter()
        .map(|s| s["gapMs"].as_f64().unwrap() / 1000.0)
        .collect();
    println!(
        "Failover over {ROUNDS} kills (heartbeat {} s, lease {} s):",
        env_u64("BENCH_HEARTBEAT_S", 3),
        env_u64("BENCH_LEASE_S", 10)
    );
    stats("kill -9 → continued elsewhere (claim taken)", noticed, "s");
    stats("gap in the recording (gapMs)", gaps, "s");
}

/// Around each seam: the longest run of 10 ms windows where a beep should sound and does not
/// (silence), and where none should and one does (doubled or shifted audio).
fn seams(wav: &Wav, origin_ms: f64, seams_ms: &[f64]) -> (f64, f64) {
    let mask = wav.tone_mask(FREQ);
    let late = |t: f64| (origin_ms + t).rem_euclid(1000.0);
    let onsets: Vec<f64> = wav
        .tone_segments(FREQ)
        .iter()
        .map(|&(a, _)| a)
        .filter(|&a| a > 1_000.0)
        .collect();
    // The path's latency just before each seam (from the beeps' onsets there): the audio after
    // the seam must continue that timeline — no beep cut short, none stretched.
    let latency_before = |seam: f64| {
        let mut xs: Vec<f64> = onsets
            .iter()
            .filter(|&&a| a > seam - 3_000.0 && a < seam - 200.0)
            .map(|&a| late(a))
            .collect();
        if xs.is_empty() {
            xs = onsets.iter().map(|&a| late(a)).collect();
        }
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let (mut silent, mut doubled) = (0.0f64, 0.0f64);
    for &seam in seams_ms {
        let latency = latency_before(seam);
        let (mut run_silent, mut run_doubled) = (0.0f64, 0.0f64);
        let from = ((seam - 1_000.0).max(1_000.0) / 10.0) as usize;
        let to = (((seam + 1_000.0) / 10.0) as usize).min(mask.len());
        for (i, on) in mask.iter().enumerate().take(to).skip(from) {
            let phase = (late(i as f64 * 10.0) - latency).rem_euclid(1000.0);
            // 20 ms of tolerance at each edge of a beep (the detector's window).
            let expected_on = phase > 20.0 && phase < 380.0;
            let expected_off = phase > 420.0 && phase < 980.0;
            run_silent = if expected_on && !on {
                run_silent + 10.0
            } else {
                0.0
            };
            run_doubled = if expected_off && *on {
                run_doubled + 10.0
            } else {
                0.0
            };
            silent = silent.max(run_silent);
            doubled = doubled.max(run_doubled);
        }
    }
    (silent, doubled)
}

async fn handover_seams(cluster: &mut Cluster) {
    let (code, started) = cluster
        .post(
            0,
            "/api/recording/start",
            json!({"channel": "b_hand_1", "speakers": true}),
        )
        .await;
    assert_eq!(code, 200, "{started}");
    let sid = started["sid"].as_str().unwrap().to_owned();
    let mut exits = Vec::new();
    for _ in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let from = owner(cluster, &sid).await;
        let at = Instant::now();
        cluster.node_mut(&from).terminate().await;
        exits.push(at.elapsed().as_secs_f64());
        cluster.node_mut(&from).restart();
        cluster.node(&from).wait_ready().await;
        cluster.wait_live(2).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopped = stop(cluster, &sid).await;
    let holder = owner(cluster, &sid).await;
    let origin = unix_ms(&stopped["startedAt"]);
    let segments = stopped["segments"].as_array().unwrap();
    let seams_ms: Vec<f64> = segments[1..]
        .iter()
        .zip(segments)
        .map(|(_, prev)| unix_ms(&prev["stoppedAt"]) - origin)
        .collect();
    let cuts: Vec<f64> = segments[1..]
        .iter()
        .map(|s| s["cutMs"].as_f64().unwrap())
        .collect();
    let node = cluster.node(&holder);
    let mix = node.wav(stopped["filename"].as_str().unwrap());
    let speaker = node.wav(stopped["speakers"][0]["filename"].as_str().unwrap());
    let (silent, doubled) = seams(&mix, origin, &seams_ms);
    let (s_silent, s_doubled) = seams(&speaker, origin, &seams_ms);
    println!(
        "Hand-over over {ROUNDS} SIGTERMs ({} segments, all gaps {}):",
        segments.len(),
        if segments.iter().all(|s| s["gapMs"] == 0) {
            "0 ms"
        } else {
            "NOT 0"
        }
    );
    stats("SIGTERM → old recorder exited", exits, "s");
    stats("overlap cut at the seam (both recorded)", cuts, "ms");
    println!(
        "  largest silent window where a beep should sound: mix {silent} ms, speaker {s_silent} ms"
    );
    println!(
        "  largest tone where none should sound (doubled):  mix {doubled} ms, speaker {s_doubled} ms"
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let parts =
            std::env::var("BENCH_PARTS").unwrap_or_else(|_| "assembly,handover,failover".into());
        let mut cluster = Cluster::start(beats_plan(2)).await;
        if parts.contains("assembly") {
            assembly_time(&cluster).await;
        }
        if parts.contains("handover") {
            handover_seams(&mut cluster).await;
        }
        if parts.contains("failover") {
            failover_gaps(&mut cluster).await;
        }
    });
}
