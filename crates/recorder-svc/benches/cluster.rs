//! Cluster figures (issue 13), on the test harness's cluster (Google's Firestore emulator,
//! fake-gcs-server, three recorder processes with the SDK stand-in, two in-process gateways) with
//! the heartbeat (5 s) and lease (15 s) its figures were measured with (production's defaults then;
//! now 3 s and 10 s, see the continuity bench):
//! - documents each recorder and gateway reads and writes per hour, idle and near full;
//! - routing's added latency: `status` and `stop` through a cluster gateway that knows the owner,
//!   a single-mode gateway and the recorder directly; a cold directory read; an unknown sid;
//! - placement under contention: 200 starts for 20 channels through both gateways at once;
//! - recovery: the directory cut off for everyone for 30 s, then back.
//!
//! `cargo bench -p recorder-svc --bench cluster` (part of `make bench`; needs what `make test`
//! sets up: the Firestore emulator, fake-gcs-server, Chromium).

// Test code: it unwraps like the tests do, and uses part of their harness.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/cluster/harness.rs"]
mod harness;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Cluster, Plan};
use memharbor_testkit as kit;
use serde_json::{Value, json};

const SAMPLES: usize = 500;
const CHANNELS: usize = 20;
const STARTS: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    println!(
        "  {name:<44} n={:<4} p50 {p50:>7.3} ms  p99 {p99:>7.3} ms",
        ms.len()
    );
    (p50, p99)
}

async fn timed(request: reqwest::RequestBuilder, expect: u16) -> f64 {
    let at = Instant::now();
    let r = request.send().await.expect("answer");
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    assert_eq!(status, expect);
    at.elapsed().as_secs_f64() * 1000.0
}

/// Documents read and written so far by each recorder (its `/status`) and each gateway (`/metrics`).
async fn documents(cluster: &Cluster) -> (Vec<(f64, f64)>, Vec<(f64, f64)>) {
    let mut recorders = Vec::new();
    for node in &cluster.nodes {
        let s = node.status().await;
        let d = &s["cluster"]["directory"];
        recorders.push((
            d["documentsRead"].as_f64().unwrap(),
            d["documentsWritten"].as_f64().unwrap(),
        ));
    }
    let mut gateways = Vec::new();
    for g in &cluster.gateways {
        let text = cluster
            .http
            .get(format!("{}/metrics", g.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let of = |op: &str| {
            kit::metric(
                &text,
                &format!("memharbor_cluster_directory_documents{{op=\"{op}\"}}"),
            )
            .unwrap_or(0.0)
        };
        gateways.push((of("read"), of("write")));
    }
    (recorders, gateways)
}

async fn per_hour(cluster: &Cluster, what: &str, window: Duration) {
    let (r0, g0) = documents(cluster).await;
    tokio::time::sleep(window).await;
    let (r1, g1) = documents(cluster).await;
    let scale = 3600.0 / window.as_secs_f64();
    println!(
        "Firestore documents per hour, {what} (over {} s):",
        window.as_secs()
    );
    for (n, (a, b)) in r0.iter().zip(&r1).enumerate() {
        println!(
            "  recorder rec-{n}: {:>6.0} reads, {:>6.0} writes",
            (b.0 - a.0) * scale,
            (b.1 - a.1) * scale
        );
    }
    for (n, (a, b)) in g0.iter().zip(&g1).enumerate() {
        println!(
            "  gateway {n}:      {:>6.0} reads, {:>6.0} writes",
            (b.0 - a.0) * scale,
            (b.1 - a.1) * scale
        );
    }
}

async fn routing(cluster: &Cluster) {
    let (code, started) = cluster.start_via(0, "b_route_1").await;
    assert_eq!(code, 200, "{started}");
    let sid = started["sid"].as_str().unwrap().to_owned();
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    let node = cluster.node(&owner);
    let single = harness::single_gateway(&node.url).await;
    let internal = kit::client();
    let http = &cluster.http;
    let clustered = &cluster.gateways[0].url;
    let directory = memharbor_directory::Directory::new(
        memharbor_google::firestore::Firestore::new(
            reqwest::Client::new(),
            &cluster.firestore.url,
            "demo-memharbor",
            Arc::new(memharbor_google::Credentials::Emulator),
        ),
        Duration::from_secs(15),
    );
    let unknown = "0b0d4c1e-0000-4000-8000-000000000001";
    let mut series: [Vec<f64>; 5] = Default::default();
    for _ in 0..SAMPLES {
        let route = format!("/api/recording/{sid}");
        series[0].push(
            timed(
                internal.get(format!("{}/internal/sessions/{sid}", node.url)),
                200,
            )
            .await,
        );
        series[1].push(timed(http.get(format!("{single}{route}")), 200).await);
        series[2].push(timed(http.get(format!("{clustered}{route}")), 200).await);
        let at = Instant::now();
        assert!(directory.session(&sid).await.unwrap().is_some());
        series[3].push(at.elapsed().as_secs_f64() * 1000.0);
        series[4].push(
            timed(
                http.get(format!("{clustered}/api/recording/{unknown}")),
                404,
            )
            .await,
        );
    }
    println!("Routing, status of one live session ({SAMPLES} each, interleaved, sequential):");
    let direct = summary(
        "recorder directly (/internal/sessions/{sid})",
        series[0].clone(),
    );
    let single_mode = summary("single-mode gateway", series[1].clone());
    let cached = summary("cluster gateway, owner known", series[2].clone());
    summary("cold: the directory's session read", series[3].clone());
    summary(
        "unknown sid: directory miss + 3 recorders",
        series[4].clone(),
    );
    println!(
        "  added by cluster routing vs single mode: p50 {:+.3} ms, p99 {:+.3} ms (vs the recorder: p50 {:+.3}, p99 {:+.3})",
        cached.0 - single_mode.0,
        cached.1 - single_mode.1,
        cached.0 - direct.0,
        cached.1 - direct.1
    );

    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({"sid": sid}))
        .await;
    assert_eq!(code, 200, "{stopped}");
    let mut stops: [Vec<f64>; 3] = Default::default();
    let body = json!({ "sid": sid });
    for _ in 0..SAMPLES {
        stops[0].push(
            timed(
                internal
                    .post(format!("{}/internal/sessions/stop", node.url))
                    .json(&body),
                200,
            )
            .await,
        );
        stops[1].push(
            timed(
                http.post(format!("{single}/api/recording/stop"))
                    .json(&body),
                200,
            )
            .await,
        );
        stops[2].push(
            timed(
                http.post(format!("{clustered}/api/recording/stop"))
                    .json(&body),
                200,
            )
            .await,
        );
    }
    println!("Routing, stop of a stopped session (answers its stop body again):");
    let direct = summary("recorder directly", stops[0].clone());
    let single_mode = summary("single-mode gateway", stops[1].clone());
    let cached = summary("cluster gateway, owner known", stops[2].clone());
    println!(
        "  added by cluster routing vs single mode: p50 {:+.3} ms, p99 {:+.3} ms (vs the recorder: p50 {:+.3}, p99 {:+.3})",
        cached.0 - single_mode.0,
        cached.1 - single_mode.1,
        cached.0 - direct.0,
        cached.1 - direct.1
    );
}

/// 200 starts for 20 channels through both gateways at once; returns each channel's sid.
async fn contention(cluster: &Cluster) -> Vec<(String, String)> {
    let channel = |i: usize| format!("b_s{}_x", i % CHANNELS);
    let at = Instant::now();
    let answers = futures_util::future::join_all((0..STARTS).map(|i| async move {
        let sent = Instant::now();
        let (code, body) = cluster.start_via(i % 2, &channel(i)).await;
        (i, code, body, sent.elapsed().as_secs_f64() * 1000.0)
    }))
    .await;
    let wall = at.elapsed();
    let mut sids: HashMap<String, HashSet<String>> = HashMap::new();
    let mut fresh: HashMap<String, usize> = HashMap::new();
    let mut codes: HashMap<u16, usize> = HashMap::new();
    let mut times = Vec::new();
    for (i, code, body, ms) in &answers {
        *codes.entry(*code).or_default() += 1;
        times.push(*ms);
        if *code == 200 {
            sids.entry(channel(*i))
                .or_default()
                .insert(body["sid"].as_str().unwrap().to_owned());
            if body["existing"] == false {
                *fresh.entry(channel(*i)).or_default() += 1;
            }
        } else {
            println!("  {} → {code} {body}", channel(*i));
        }
    }
    let duplicates =
        sids.values().filter(|s| s.len() > 1).count() + fresh.values().filter(|&&n| n > 1).count();
    // Every channel's claim in Firestore names the one sid its starts were answered.
    let mut lost = 0;
    for (ch, set) in &sids {
        let claim: Value = cluster
            .document(&format!("memharbor_channels/{ch}"))
            .await
            .unwrap_or(Value::Null);
        let claimed = claim["fields"]["sid"]["stringValue"].as_str();
        if set.len() != 1 || claimed != set.iter().next().map(String::as_str) {
            lost += 1;
        }
    }
    let (_, status) = cluster.get(1, "/api/recording/status").await;
    let listed: Vec<&str> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["sid"].as_str())
        .collect();
    let listed_once = listed.iter().collect::<HashSet<_>>().len() == listed.len();
    println!(
        "Placement under contention: {STARTS} starts for {CHANNELS} channels through 2 gateways at once, in {:.1} s",
        wall.as_secs_f64()
    );
    println!(
        "  answers {codes:?}; channels with a session {}; duplicate sessions {duplicates}; lost claims {lost}; sessions listed {} (each once: {listed_once})",
        sids.len(),
        listed.len()
    );
    summary("start answer time", times);
    assert_eq!(sids.len(), CHANNELS, "every channel has its session");
    sids.into_iter()
        .map(|(ch, set)| (ch, set.into_iter().next().unwrap()))
        .collect()
}

/// The directory cut off for everyone for 30 s: when is every session routable by channel (a
/// start answers it, `existing`) through both gateways, and a new channel placeable?
async fn recovery(cluster: &Cluster, sessions: &[(String, String)]) {
    cluster.cut_directory(true);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (code, body) = cluster.start_via(0, "b_after_x").await;
    println!(
        "Recovery: during the outage a start answers {code} {}",
        body["error"]["code"]
    );
    cluster.cut_directory(false);
    let back = Instant::now();
    let deadline = Duration::from_secs(120);
    // Polled side by side: a new channel placed; each (session, gateway) answered by its owner.
    let placeable = async {
        while back.elapsed() < deadline {
            if cluster.start_via(1, "b_after_x").await.0 == 200 {
                return Some(back.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    };
    let routable = async {
        let mut waiting: Vec<(usize, &(String, String))> = (0..2)
            .flat_map(|g| sessions.iter().map(move |s| (g, s)))
            .collect();
        while !waiting.is_empty() && back.elapsed() < deadline {
            let mut still = Vec::new();
            for (g, session) in waiting {
                let (code, body) = cluster.start_via(g, &session.0).await;
                if !(code == 200 && body["sid"] == json!(session.1) && body["existing"] == true) {
                    still.push((g, session));
                }
            }
            waiting = still;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        waiting.is_empty().then(|| back.elapsed())
    };
    let (placeable, routable) = tokio::join!(placeable, routable);
    println!(
        "  after 30 s away, back: every one of {} sessions routable by channel through both gateways after {routable:?}; a new channel placed after {placeable:?} (heartbeat 5 s, lease 15 s)",
        sessions.len()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cluster = Cluster::start(Plan {
            recorders: 3,
            gateways: 2,
            max_sessions: 7,
            heartbeat_s: 5,
            lease_s: 15,
            ..Plan::default()
        })
        .await;
        per_hour(&cluster, "idle", Duration::from_secs(60)).await;
        routing(&cluster).await;
        let sessions = contention(&cluster).await;
        per_hour(
            &cluster,
            "20 sessions in 21 places",
            Duration::from_secs(60),
        )
        .await;
        recovery(&cluster, &sessions).await;
        for (_, sid) in &sessions {
            let _ = cluster
                .post(0, "/api/recording/stop", json!({ "sid": sid }))
                .await;
        }
    });
}
