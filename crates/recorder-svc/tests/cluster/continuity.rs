//! Continuity: a recording survives its recorder. Killed (kill -9), its session continues on
//! another recorder under the same sid and the killed one's segment joins the file when it
//! returns; terminated (SIGTERM), it hands the session over with no gap and nothing doubled; a
//! rolling restart of every recorder leaves one clean file. The participant beeps on the Unix
//! clock (400 ms of tone at every whole second), as a caller would for every recorder at once,
//! so each beep's place in the file says whether the timeline is exact.

use std::time::{Duration, Instant};

use memharbor_testkit::{self as kit, wav::Wav};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::{BUCKET, Cluster, Plan};

const FREQ: f64 = 440.0;
const PERIOD_MS: f64 = 1_000.0;
const ON_MS: f64 = 400.0;

pub fn beats_plan(recorders: usize) -> Plan {
    Plan {
        recorders,
        gateways: 1,
        scenario: kit::everywhere(vec![json!({
            "uid": 1001, "joinAt": 0, "publishAt": 0,
            "wallBeats": {"periodMs": PERIOD_MS, "onMs": ON_MS, "forMs": 900_000},
            "audio": {"type": "tone", "frequency": FREQ, "gain": 0.3},
        })]),
        ..Plan::default()
    }
}

fn unix_ms(iso: &Value) -> f64 {
    let t = OffsetDateTime::parse(iso.as_str().unwrap(), &Rfc3339).unwrap();
    t.unix_timestamp_nanos() as f64 / 1e6
}

/// What the beeps in a file whose position 0 is `origin_ms` say.
#[derive(Debug)]
pub struct Beats {
    /// Whole beeps found (file ms).
    pub found: usize,
    /// File ms of beeps that should be there and are not.
    pub missing: Vec<f64>,
}

/// Every beep in `wav` must start on a wall-clock second, late by the time from the caller's
/// microphone to the recorder's ear, last 400 ms (±40) and have no silent 10 ms inside: no seam,
/// no hole, nothing doubled. That latency is not constant on 2 shared cores: the receiving
/// jitter buffer grows and shrinks by tens of ms while a Chromium starts beside it (seen: a
/// drift from 72 to 172 ms over ten beeps). So each beep's lateness is judged against the
/// beep before it (a step of more than 60 ms would be a seam placed wrong on the timeline) and a
/// beep counts as present within 150 ms of where the median latency puts it.
pub fn check_beats(wav: &Wav, origin_ms: f64, gaps: &[(f64, f64)]) -> Beats {
    let duration = wav.duration_ms();
    let runs = wav.tone_segments(FREQ);
    let whole: Vec<(f64, f64)> = runs
        .iter()
        .copied()
        // Not cut by the file's edges; the first beep of a join may still carry the link's
        // start-up transient (as in every other audio test, the first second is not judged), and
        // the last 200 ms may be silence: a segment shifted to its seam (`align`) ends that
        // much before the stop.
        .filter(|&(a, b)| a >= 1_000.0 && b <= duration - 200.0)
        .filter(|&(a, b)| !gaps.iter().any(|&(from, to)| b > from && a < to))
        .collect();
    // From -500 to +500 ms: a beep heard 7 ms before its second is not 993 ms late.
    let late = |a: f64| (origin_ms + a + PERIOD_MS / 2.0).rem_euclid(PERIOD_MS) - PERIOD_MS / 2.0;
    let mut lateness: Vec<f64> = whole.iter().map(|&(a, _)| late(a)).collect();
    lateness.sort_by(f64::total_cmp);
    let latency = lateness.get(lateness.len() / 2).copied().unwrap_or(0.0);
    assert!(latency.abs() < 300.0, "beeps {latency} ms late: {runs:?}");
    for (i, &(a, b)) in whole.iter().enumerate() {
        if let Some(&(before, _)) = i.checked_sub(1).and_then(|j| whole.get(j)) {
            assert!(
                (late(a) - late(before)).abs() <= 60.0,
                "the beep at {a} ms is {} ms late, the one before {} ms: {runs:?}",
                late(a),
                late(before)
            );
        }
        assert!(
            (b - a - ON_MS).abs() <= 40.0,
            "the beep at {a} ms lasts {} ms: {runs:?}",
            b - a
        );
        let holes = wav.dropouts(a + 30.0, b - 30.0);
        assert!(
            holes.is_empty(),
            "silence inside the beep at {a} ms: {holes:?}"
        );
    }
    let mut missing = Vec::new();
    let mut wall = (origin_ms / PERIOD_MS).ceil() * PERIOD_MS + latency;
    while wall - origin_ms + ON_MS < duration - 200.0 {
        let at = wall - origin_ms;
        if !runs.iter().any(|&(a, _)| (a - at).abs() <= 150.0) {
            missing.push(at);
        }
        wall += PERIOD_MS;
    }
    Beats {
        found: whole.len(),
        missing,
    }
}

/// The recorder the directory routes `sid` to.
async fn owner_in_directory(cluster: &Cluster, sid: &str) -> String {
    let route = cluster
        .document(&format!("memharbor_sessions/{sid}"))
        .await
        .unwrap();
    route["fields"]["recorder"]["stringValue"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until recorder `node` records `sid`.
async fn recording_on(cluster: &Cluster, node: &str, sid: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = cluster
            .node(node)
            .get(&format!("/internal/sessions/{sid}"))
            .await;
        if code == 200 && body["status"] == "recording" {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{node} does not record {sid}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a recording: its sid, when the start was sent and when it was answered (the recording
/// began in between: the bot's join can take seconds on a cold box).
///
/// A start refused with 503 `directory_unavailable` is retried, as the answer tells a client to:
/// on a loaded CI box the Firestore emulator (a JVM) has once stalled long enough for a
/// recorder's own heartbeat to lapse; the directory's outage is tested in `outage.rs`, not here.
async fn start(cluster: &Cluster, channel: &str) -> (String, Instant, Instant) {
    let mut tries = 0;
    let (sent, started) = loop {
        let sent = Instant::now();
        let (code, started) = cluster
            .post(
                0,
                "/api/recording/start",
                json!({"channel": channel, "speakers": true}),
            )
            .await;
        tries += 1;
        if code == 503 && started["error"]["code"] == "directory_unavailable" && tries < 3 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        assert_eq!(code, 200, "{started}");
        break (sent, started);
    };
    (
        started["sid"].as_str().unwrap().to_owned(),
        sent,
        Instant::now(),
    )
}

fn other(cluster: &Cluster, id: &str) -> String {
    cluster
        .nodes
        .iter()
        .find(|n| n.id != id)
        .map(|n| n.id.clone())
        .unwrap()
}

/// The mix and each speaker's file: as long as the body says, beeps on the wall clock.
fn check_files(cluster: &Cluster, holder: &str, body: &Value) -> Beats {
    let origin = unix_ms(&body["startedAt"]);
    let node = cluster.node(holder);
    let mix = node.wav(body["filename"].as_str().unwrap());
    assert_eq!(
        mix.samples.len() as u64 / 16,
        body["duration"].as_u64().unwrap()
    );
    let segments = body["segments"].as_array().unwrap();
    let gaps: Vec<(f64, f64)> = segments
        .windows(2)
        .filter(|pair| pair[1]["gapMs"].as_u64().unwrap() > 0)
        .map(|pair| {
            (
                unix_ms(&pair[0]["stoppedAt"]) - origin - 50.0,
                unix_ms(&pair[1]["startedAt"]) - origin + 1_000.0,
            )
        })
        .collect();
    let beats = check_beats(&mix, origin, &gaps);
    let speakers = body["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 1, "{body}");
    let own = node.wav(speakers[0]["filename"].as_str().unwrap());
    assert_eq!(own.samples.len(), mix.samples.len());
    let theirs = check_beats(&own, origin, &gaps);
    assert_eq!(
        theirs.missing, beats.missing,
        "the speaker's file and the mix differ"
    );
    beats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_s_session_continues_elsewhere_and_its_segment_joins_when_it_returns() {
    let mut cluster = Cluster::start(beats_plan(2)).await;
    let (sid, sent, answered) = start(&cluster, "g_fail_1").await;
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    let heir = other(&cluster, &owner);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let killed = Instant::now();
    cluster.node_mut(&owner).kill();
    recording_on(&cluster, &heir, &sid, Duration::from_secs(60)).await;
    eprintln!(
        "failover: {heir} records {sid} {:?} after the kill",
        killed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Stopped while the killed recorder is away: complete in length, its segment pending.
    let stop_sent = Instant::now();
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["sid"], sid.as_str());
    assert_eq!(
        stopped["assembly"],
        json!({"state": "pending", "missing": [format!("{owner}#1")]}),
        "{stopped}"
    );
    let ms = stopped["duration"].as_f64().unwrap();
    // As long as the call was recorded, as a client can tell: it began between the start's
    // request and answer, and ended between the stop's (50 ms for rounding and clock reads).
    let (shortest, longest) = (
        (stop_sent - answered).as_secs_f64() * 1000.0 - 50.0,
        sent.elapsed().as_secs_f64() * 1000.0 + 50.0,
    );
    assert!(ms >= shortest && ms <= longest, "{ms} ms, {stopped}");
    let (code, progress) = cluster.get(0, &format!("/api/recording/{sid}")).await;
    assert_eq!(
        (code, &progress["assembly"]["state"]),
        (200, &json!("pending"))
    );

    // It returns (its volume with it): the recording completes, uploaded once.
    cluster.node_mut(&owner).restart();
    cluster.node(&owner).wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let (_, body) = cluster.get(0, &format!("/api/recording/{sid}")).await;
        if body["assembly"]["state"] == "complete" && body["firebase"].is_object() {
            break body;
        }
        assert!(Instant::now() < deadline, "not complete: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done["duration"], stopped["duration"]);
    let segments = done["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{done}");
    assert_eq!(
        (&segments[0]["recorder"], &segments[1]["recorder"]),
        (&json!(owner), &json!(heir))
    );
    assert_eq!(
        (&segments[0]["fencing"], &segments[1]["fencing"]),
        (&json!(1), &json!(2))
    );
    let gap = segments[1]["gapMs"].as_f64().unwrap();
    eprintln!("failover gap {gap} ms (kill to recording elsewhere, plus the join)");
    assert!(gap > 0.0 && gap < 60_000.0, "{done}");

    // Beeps where the clock put them; missing only around the reported gap.
    let beats = check_files(&cluster, &heir, &done);
    let origin = unix_ms(&done["startedAt"]);
    let gap_from = unix_ms(&segments[0]["stoppedAt"]) - origin;
    let gap_to = unix_ms(&segments[1]["startedAt"]) - origin;
    for at in &beats.missing {
        assert!(
            *at >= gap_from - PERIOD_MS && *at <= gap_to + 2_500.0 || *at < 1_500.0,
            "a beep missing at {at} ms, outside the gap {gap_from}..{gap_to}: {beats:?}"
        );
    }
    assert!(
        gap_from > 5_000.0,
        "the killed recorder's segment is in: {done}"
    );

    // One object and one document in Firebase.
    let object = cluster
        .gcs
        .object_bytes(
            BUCKET,
            &format!("recordings/{}", done["filename"].as_str().unwrap()),
        )
        .await;
    assert_eq!(object.len() as u64, done["fileSize"].as_u64().unwrap());
    let doc = cluster
        .document(&format!("recordings/{sid}"))
        .await
        .unwrap();
    assert_eq!(
        doc["fields"]["duration"]["integerValue"],
        json!(done["duration"].to_string())
    );
    // The segments are deleted once the recording is safe, also on the returned recorder.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .node(&owner)
        .get(&format!("/internal/segments/{sid}/1"))
        .await
        .0
        != 404
    {
        assert!(
            Instant::now() < deadline,
            "the killed recorder kept its segment"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_session_over_with_no_gap_and_nothing_doubled() {
    let mut cluster = Cluster::start(beats_plan(2)).await;
    let (sid, sent, answered) = start(&cluster, "g_hand_1").await;
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    let heir = other(&cluster, &owner);
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    let term = Instant::now();
    cluster.node_mut(&owner).terminate().await;
    eprintln!(
        "hand-over: {owner} exited {:?} after SIGTERM",
        term.elapsed()
    );
    recording_on(&cluster, &heir, &sid, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stop_sent = Instant::now();
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    // Complete at once: the new owner copied the old segment before the old recorder exited.
    assert_eq!(stopped["assembly"]["state"], "complete", "{stopped}");
    let segments = stopped["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{stopped}");
    assert_eq!(segments[1]["gapMs"], 0, "{stopped}");
    eprintln!("hand-over overlap cut: {} ms", segments[1]["cutMs"]);
    let ms = stopped["duration"].as_f64().unwrap();
    // As long as the call was recorded, as a client can tell: it began between the start's
    // request and answer, and ended between the stop's (50 ms for rounding and clock reads).
    let (shortest, longest) = (
        (stop_sent - answered).as_secs_f64() * 1000.0 - 50.0,
        sent.elapsed().as_secs_f64() * 1000.0 + 50.0,
    );
    assert!(ms >= shortest && ms <= longest, "{ms} ms, {stopped}");
    let beats = check_files(&cluster, &heir, &stopped);
    // Every beep after the first second is there: nothing lost at the seam.
    assert!(
        beats.missing.iter().all(|at| *at < 1_500.0),
        "beeps missing: {beats:?}"
    );
    assert!(beats.found >= 8, "{beats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_recorder_during_one_call_leaves_one_clean_file() {
    let mut cluster = Cluster::start(beats_plan(3)).await;
    let (sid, _, _) = start(&cluster, "g_roll_1").await;
    // Each recorder once, the session's owner first whenever it has not been restarted yet.
    let mut restarted: Vec<String> = Vec::new();
    for _ in 0..cluster.nodes.len() {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let owner = owner_in_directory(&cluster, &sid).await;
        let next = if restarted.contains(&owner) {
            cluster
                .nodes
                .iter()
                .map(|n| n.id.clone())
                .find(|id| !restarted.contains(id))
                .unwrap()
        } else {
            owner
        };
        cluster.node_mut(&next).terminate().await;
        cluster.node_mut(&next).restart();
        cluster.node(&next).wait_ready().await;
        cluster.wait_live(3).await;
        restarted.push(next);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["assembly"]["state"], "complete", "{stopped}");
    let segments = stopped["segments"].as_array().unwrap();
    assert!(segments.len() >= 3, "{stopped}");
    assert!(segments.iter().all(|s| s["gapMs"] == 0), "{stopped}");
    let holder = owner_in_directory(&cluster, &sid).await;
    let beats = check_files(&cluster, &holder, &stopped);
    assert!(
        beats.missing.iter().all(|at| *at < 1_500.0),
        "beeps missing: {beats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_owner_ends_its_segment_at_its_last_renewal_and_nothing_is_doubled() {
    let cluster = Cluster::start(beats_plan(2)).await;
    let (sid, _, _) = start(&cluster, "g_split_1").await;
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    let heir = other(&cluster, &owner);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Cut off from the directory, it records on; the other recorder continues the session.
    cluster.node(&owner).link().cut();
    recording_on(&cluster, &heir, &sid, Duration::from_secs(60)).await;
    let (code, still) = cluster
        .node(&owner)
        .get(&format!("/internal/sessions/{sid}"))
        .await;
    assert_eq!(
        (code, &still["status"]),
        (200, &json!("recording")),
        "{still}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Healed, it sees the newer fencing number and ends its segment.
    cluster.node(&owner).link().heal();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .node(&owner)
        .get(&format!("/internal/sessions/{sid}"))
        .await
        .0
        != 404
    {
        assert!(Instant::now() < deadline, "the old owner records on");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["assembly"]["state"], "complete", "{stopped}");
    let segments = stopped["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{stopped}");
    // The old segment counts only up to its last renewal: the overlap it recorded while cut
    // off is not used twice (each beep once, on its second).
    let beats = check_files(&cluster, &heir, &stopped);
    let origin = unix_ms(&stopped["startedAt"]);
    let gap_from = unix_ms(&segments[0]["stoppedAt"]) - origin;
    let gap_to = unix_ms(&segments[1]["startedAt"]) - origin;
    for at in &beats.missing {
        assert!(
            *at >= gap_from - PERIOD_MS && *at <= gap_to + 2_500.0 || *at < 1_500.0,
            "a beep missing at {at} ms, outside the gap {gap_from}..{gap_to}: {beats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_restarted_after_a_crash_continues_its_own_session() {
    // One recorder, restarted at once after kill -9 (compose's restart policy, a pod restarted
    // in place): nobody else can continue its call, so it does, under the next fencing number.
    let mut cluster = Cluster::start(beats_plan(1)).await;
    let (sid, _, _) = start(&cluster, "g_again_1").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = Instant::now();
    cluster.nodes[0].kill();
    cluster.nodes[0].restart();
    cluster.nodes[0].wait_ready().await;
    recording_on(&cluster, "rec-0", &sid, Duration::from_secs(60)).await;
    eprintln!(
        "restarted and recording {sid} again {:?} after the kill",
        killed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, stopped) = cluster
        .post(0, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["assembly"]["state"], "complete", "{stopped}");
    let segments = stopped["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{stopped}");
    assert_eq!(
        (&segments[0]["recorder"], &segments[1]["recorder"]),
        (&json!("rec-0"), &json!("rec-0"))
    );
    let gap = segments[1]["gapMs"].as_f64().unwrap();
    assert!(gap > 0.0 && gap < 30_000.0, "{stopped}");
    let beats = check_files(&cluster, "rec-0", &stopped);
    let origin = unix_ms(&stopped["startedAt"]);
    let gap_from = unix_ms(&segments[0]["stoppedAt"]) - origin;
    let gap_to = unix_ms(&segments[1]["startedAt"]) - origin;
    for at in &beats.missing {
        assert!(
            *at >= gap_from - PERIOD_MS && *at <= gap_to + 2_500.0 || *at < 1_500.0,
            "a beep missing at {at} ms, outside the gap {gap_from}..{gap_to}: {beats:?}"
        );
    }
    // Nothing is left behind once the recording is saved: its segments are deleted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = cluster.nodes[0].status().await;
        if status["continuity"]["segmentsHeld"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
