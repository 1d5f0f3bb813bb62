//! When the directory goes away: for everyone (the emulator stopped and started again), for one
//! recorder (its link cut by a proxy), or for good for one session (another owner's newer
//! fencing number). Audio is never dropped; starts say why they cannot be placed; the cluster
//! converges when the link returns. And a draining recorder takes no new session.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use memharbor_testkit as kit;

use crate::harness::{Cluster, LEASE_S, Node, Plan};

/// Stops `sid` through gateway `g` and checks its WAV on `node`: it lasts as long as the session
/// (from the start's answer to the stop's), and the participant's tone has no gap anywhere.
async fn stop_and_check_whole(
    cluster: &Cluster,
    g: usize,
    node: &Node,
    sid: &str,
    started: (Instant, Instant),
) -> Value {
    // What the page had to fill with silence because audio came late (2 shared cores, a JVM
    // and several Chromiums): the only silence a file may hold, as in the load test.
    let status = node.status().await;
    let late_ms = status["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["sid"] == sid)
        .and_then(|s| s["audio"]["lateAudioMs"].as_f64())
        .unwrap_or(0.0);
    assert!(late_ms <= 200.0, "{late_ms} ms of late audio: {status}");
    let stop_sent = Instant::now();
    let (code, stopped) = cluster
        .post(g, "/api/recording/stop", json!({ "sid": sid }))
        .await;
    let stop_answered = Instant::now();
    assert_eq!(code, 200, "{stopped}");
    let wav = node.wav(stopped["filename"].as_str().unwrap());
    let ms = wav.duration_ms();
    let (shortest, longest) = (
        (stop_sent - started.1).as_secs_f64() * 1000.0,
        (stop_answered - started.0).as_secs_f64() * 1000.0,
    );
    assert!(
        ms >= shortest - 50.0 && ms <= longest + 50.0,
        "the file lasts {ms} ms, the session between {shortest} and {longest}"
    );
    // The stand-in's tone needs a moment after the join to reach the page.
    let gaps = wav.dropouts(1_000.0, ms - 200.0);
    assert!(
        gaps.len() as f64 * 10.0 <= late_ms + 10.0,
        "dropouts at {gaps:?} ms of {ms}, {late_ms} ms of late audio reported"
    );
    stopped
}

async fn start_timed(cluster: &Cluster, g: usize, channel: &str) -> (String, (Instant, Instant)) {
    let sent = Instant::now();
    let (code, body) = cluster.start_via(g, channel).await;
    assert_eq!(code, 200, "start {channel}: {body}");
    (
        body["sid"].as_str().unwrap().to_owned(),
        (sent, Instant::now()),
    )
}

async fn start_answer(cluster: &Cluster, g: usize, channel: &str) -> (u16, Option<String>, Value) {
    let r = cluster
        .http
        .post(format!("{}/api/recording/start", cluster.gateways[g].url))
        .json(&json!({ "channel": channel }))
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_directory_down_recordings_go_on_whole_and_starts_answer_503_until_it_returns() {
    let mut cluster = Cluster::start(Plan {
        recorders: 2,
        gateways: 1,
        ..Plan::default()
    })
    .await;
    let (sid, started) = start_timed(&cluster, 0, "g_down_1").await;
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.stop_firestore();
    let (code, retry, body) = start_answer(&cluster, 0, "g_down_2").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (503, Some("directory_unavailable")),
        "{body}"
    );
    assert!(retry.is_some(), "503 without Retry-After");
    // The session goes on, and the gateway that knows its owner still reaches it.
    let (code, live) = cluster.get(0, &format!("/api/recording/{sid}")).await;
    assert_eq!(
        (code, live["status"].as_str()),
        (200, Some("recording")),
        "{live}"
    );
    // Away for longer than a lease.
    tokio::time::sleep(Duration::from_secs(LEASE_S + 2)).await;
    let (code, _, body) = start_answer(&cluster, 0, "g_down_2").await;
    assert_eq!(code, 503, "{body}");

    cluster.restart_firestore().await;
    // The recorders renew and write their claims back; the cluster places again.
    let back = Instant::now();
    let deadline = back + Duration::from_secs(30);
    while cluster
        .document("memharbor_channels/g_down_1")
        .await
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the owner never restored its claim"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_live(2).await;
    let (code, again) = cluster.start_via(0, "g_down_1").await;
    assert_eq!(
        (code, &again["sid"], &again["existing"]),
        (200, &json!(sid), &json!(true)),
        "{again}"
    );
    let (other, other_started) = start_timed(&cluster, 0, "g_down_2").await;
    eprintln!(
        "directory back: claim restored and placeable within {:?}",
        back.elapsed()
    );

    stop_and_check_whole(&cluster, 0, cluster.node(&owner), &sid, started).await;
    let other_owner = cluster.recorder_of(0, &other).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_and_check_whole(
        &cluster,
        0,
        cluster.node(&other_owner),
        &other,
        other_started,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_cut_off_keeps_recording_its_channel_is_orphaned_and_it_returns_whole() {
    // Every place taken: nobody can continue the cut-off recorder's session (see `continuity`).
    let cluster = Cluster::start(Plan {
        recorders: 2,
        gateways: 2,
        max_sessions: 1,
        ..Plan::default()
    })
    .await;
    let (sid, started) = start_timed(&cluster, 0, "g_cut_1").await;
    let owner = cluster.recorder_of(0, &sid).await.unwrap();
    let (elsewhere, elsewhere_started) = start_timed(&cluster, 1, "g_cut_2").await;
    let placed = cluster.recorder_of(0, &elsewhere).await.unwrap();
    assert_ne!(placed, owner);
    let node = cluster.node(&owner);
    node.link().cut();
    // Stale once its lease runs out: no longer placeable.
    cluster.wait_live(1).await;
    let (code, _, body) = start_answer(&cluster, 1, "g_cut_1").await;
    assert_eq!(
        (code, body["error"]["code"].as_str(), &body["error"]["sid"]),
        (409, Some("session_orphaned"), &json!(sid)),
        "{body}"
    );
    // Cut off, it records on, and says so on its status port.
    let (code, live) = node.get(&format!("/internal/sessions/{sid}")).await;
    assert_eq!(
        (code, live["status"].as_str()),
        (200, Some("recording")),
        "{live}"
    );
    let status = node.status().await;
    assert_eq!(status["cluster"]["leaseHeld"], false, "{status}");

    node.link().heal();
    let healed = Instant::now();
    cluster.wait_live(2).await;
    eprintln!("link back: placeable again within {:?}", healed.elapsed());
    let (code, again) = cluster.start_via(1, "g_cut_1").await;
    assert_eq!(
        (code, &again["sid"], &again["existing"]),
        (200, &json!(sid), &json!(true)),
        "{again}"
    );
    stop_and_check_whole(&cluster, 1, node, &sid, started).await;
    stop_and_check_whole(
        &cluster,
        0,
        cluster.node(&placed),
        &elsewhere,
        elsewhere_started,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_that_finds_a_newer_fencing_number_ends_its_segment_and_keeps_the_audio() {
    let cluster = Cluster::start(Plan {
        recorders: 1,
        gateways: 1,
        ..Plan::default()
    })
    .await;
    let (sid, _) = start_timed(&cluster, 0, "g_fence_1").await;
    let node = &cluster.nodes[0];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cut_at_ms = kit::unix_ms_now();
    node.link().cut();
    // While it is away, another recorder takes the channel over with the next fencing number.
    let claim = cluster
        .document("memharbor_channels/g_fence_1")
        .await
        .unwrap();
    let fencing: u64 = claim["fields"]["fencing"]["integerValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    cluster
        .write_document(
            "memharbor_channels/g_fence_1",
            json!({
                "sid": {"stringValue": sid}, "recorder": {"stringValue": "rec-9"},
                "incarnation": {"stringValue": "elsewhere"},
                "fencing": {"integerValue": (fencing + 1).to_string()},
                "state": {"stringValue": "active"},
            }),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(LEASE_S + 1)).await;
    node.link().heal();

    // Back, it sees the newer number, stops its bot and ends its segment at the last renewal of
    // its lease; the audio stays, as a segment for the newer owner's assembly.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = node.get(&format!("/internal/sessions/{sid}")).await;
        if code == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "still {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = node.metrics().await;
    assert_eq!(
        memharbor_testkit::metric(&metrics, "memharbor_cluster_lease_losses_total"),
        Some(1.0),
        "{metrics}"
    );
    let (code, segment) = node
        .get(&format!("/internal/segments/{sid}/{fencing}"))
        .await;
    assert_eq!(code, 200, "{segment}");
    let (start, end) = (
        segment["startMs"].as_f64().unwrap(),
        segment["endMs"].as_f64().unwrap(),
    );
    // It ends where its lease was last renewed: around the cut (a beat before it at most).
    assert!(
        end < cut_at_ms + 1_500.0 && end > cut_at_ms - 2_500.0,
        "{segment}"
    );
    let wav = kit::wav::Wav::read(
        &node
            .recordings()
            .join(format!(".segments/{sid}-{fencing}"))
            .join(segment["mix"].as_str().unwrap()),
    );
    assert!(
        (wav.duration_ms() - (end - start)).abs() < 50.0,
        "{segment}"
    );
    assert!(wav.dropouts(1_000.0, wav.duration_ms() - 200.0).is_empty());
    // The claim is the newer owner's still: the old one did not release it.
    let claim = cluster
        .document("memharbor_channels/g_fence_1")
        .await
        .unwrap();
    assert_eq!(claim["fields"]["recorder"]["stringValue"], "rec-9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_recorder_is_not_ready_and_takes_no_new_session() {
    let cluster = Cluster::start(Plan {
        recorders: 2,
        gateways: 1,
        ..Plan::default()
    })
    .await;
    let drained = &cluster.nodes[0];
    let (code, body) = drained
        .post("/internal/drain", json!({"draining": "yes"}))
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("invalid_draining"))
    );
    let (code, body) = drained.post("/internal/drain", json!(null)).await;
    assert_eq!(code, 200, "{body}");
    let ready = reqwest::get(format!("{}/readyz", drained.url))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let status = drained.status().await;
    assert_eq!(status["cluster"]["draining"], true, "{status}");
    for n in 0..2 {
        let (sid, _) = start_timed(&cluster, 0, &format!("g_drain_{n}")).await;
        assert_eq!(
            cluster.recorder_of(0, &sid).await.as_deref(),
            Some("rec-1"),
            "placed on the draining recorder"
        );
    }
    // Both places of rec-1 are taken and rec-0 drains: the cluster is full.
    let (code, retry, body) = start_answer(&cluster, 0, "g_drain_x").await;
    assert_eq!(
        (code, body["error"]["code"].as_str(), retry.is_some()),
        (503, Some("capacity_exhausted"), true),
        "{body}"
    );
    let (code, _) = drained
        .post("/internal/drain", json!({"draining": false}))
        .await;
    assert_eq!(code, 200);
    // Placeable again once the gateway reads the directory next (every 2 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    let sid = loop {
        let (code, _, body) = start_answer(&cluster, 0, "g_drain_x").await;
        if code == 200 {
            break body["sid"].as_str().unwrap().to_owned();
        }
        assert_eq!(body["error"]["code"], "capacity_exhausted", "{body}");
        assert!(Instant::now() < deadline, "still not placeable");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(cluster.recorder_of(0, &sid).await.as_deref(), Some("rec-0"));
}
