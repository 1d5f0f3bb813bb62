//! Placement and routing: sessions spread over the recorders, every route works through a gateway
//! that did not start the session, a full cluster says so, and channels started through two
//! gateways at once is one session each.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Cluster, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_the_recorders_and_every_route_works_through_either_gateway() {
    let cluster = Cluster::start(Plan::default()).await;
    let channels = ["g_a_1", "g_a_2", "g_a_3"];
    let mut sids = Vec::new();
    for channel in channels {
        let (status, body) = cluster.start_via(0, channel).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["existing"], false);
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    // One per recorder: each start went to the one with the most room.
    let mut on = HashSet::new();
    for sid in &sids {
        on.insert(
            cluster
                .recorder_of(1, sid)
                .await
                .expect("listed with its recorder"),
        );
    }
    assert_eq!(on.len(), 3, "{on:?}");
    let (_, status) = cluster.get(1, "/api/recording/status").await;
    assert_eq!(status["count"], 3, "{status}");

    // The other gateway finds the session for a second start, a read and a stop.
    let (code, again) = cluster.start_via(1, "g_a_1").await;
    assert_eq!(
        (code, &again["sid"], &again["existing"]),
        (200, &json!(sids[0]), &json!(true))
    );
    let (code, live) = cluster.get(1, &format!("/api/recording/{}", sids[0])).await;
    assert_eq!(
        (code, live["status"].as_str()),
        (200, Some("recording")),
        "{live}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, stopped) = cluster
        .post(1, "/api/recording/stop", json!({"sid": sids[0]}))
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert!(stopped["duration"].as_u64().unwrap() >= 1_500, "{stopped}");
    let (code, by_channel) = cluster
        .post(1, "/api/recording/stop", json!({"channel": "g_a_2"}))
        .await;
    assert_eq!(
        (code, &by_channel["sid"]),
        (200, &json!(sids[1])),
        "{by_channel}"
    );
    // Stopped: the stop body, again, through the first gateway.
    let (code, body) = cluster.get(0, &format!("/api/recording/{}", sids[0])).await;
    assert_eq!(
        (code, &body["stopReason"]),
        (200, &json!("requested")),
        "{body}"
    );
    let (code, again) = cluster
        .post(0, "/api/recording/stop", json!({"channel": "g_a_1"}))
        .await;
    assert_eq!((code, &again["sid"]), (200, &json!(sids[0])), "{again}");

    // The file streams from the recorder that has it, through the other gateway, Range kept.
    let filename = stopped["filename"].as_str().unwrap();
    let file = cluster
        .http
        .get(format!(
            "{}/api/recording/files/{filename}",
            cluster.gateways[0].url
        ))
        .header("range", "bytes=0-43")
        .send()
        .await
        .unwrap();
    assert_eq!(file.status().as_u16(), 206);
    let header = file.bytes().await.unwrap();
    assert_eq!((&header[..4], header.len()), (&b"RIFF"[..], 44));
    let (code, _) = cluster
        .get(1, "/api/recording/files/g_z_z_2026-01-01T00-00-00.wav")
        .await;
    assert_eq!(code, 404);
    let (code, unknown) = cluster
        .get(1, "/api/recording/0b0d4c1e-0000-4000-8000-000000000001")
        .await;
    assert_eq!(
        (code, &unknown["error"]["code"]),
        (404, &json!("session_not_found"))
    );

    // The list (Firestore) has both, once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = cluster.get(1, "/api/recording/list?limit=1").await;
        let (_, rest) = match list["nextCursor"].as_str() {
            Some(cursor) => {
                cluster
                    .get(0, &format!("/api/recording/list?limit=1&cursor={cursor}"))
                    .await
            }
            None => (200, json!({"recordings": []})),
        };
        let ids: Vec<&Value> = list["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["recordings"].as_array().unwrap())
            .map(|r| &r["id"])
            .collect();
        if ids.len() == 2 {
            assert_ne!(ids[0], ids[1]);
            assert!(
                ids.iter()
                    .all(|id| sids[..2].contains(&id.as_str().unwrap().to_owned()))
            );
            break;
        }
        assert!(Instant::now() < deadline, "list: {list} {rest}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (code, _) = cluster
        .post(0, "/api/recording/stop", json!({"sid": sids[2]}))
        .await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cluster_answers_503_capacity_exhausted_until_a_stop_frees_a_place() {
    let cluster = Cluster::start(Plan {
        max_sessions: 1,
        ..Plan::default()
    })
    .await;
    let (_, health) = cluster.get(0, "/api/health").await;
    assert_eq!(
        health["recorders"],
        json!({"live": 3, "capacity": 3, "inUse": 0}),
        "{health}"
    );
    let mut sids = Vec::new();
    for n in 0..3 {
        let (status, body) = cluster.start_via(n % 2, &format!("g_full_{n}")).await;
        assert_eq!(status, 200, "{body}");
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    let full = cluster
        .http
        .post(format!("{}/api/recording/start", cluster.gateways[0].url))
        .json(&json!({"channel": "g_full_x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(full.status().as_u16(), 503);
    assert!(full.headers().contains_key("retry-after"));
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["error"]["code"], "capacity_exhausted", "{body}");

    let (code, _) = cluster
        .post(1, "/api/recording/stop", json!({"sid": sids[1]}))
        .await;
    assert_eq!(code, 200);
    // A place is free once the recorder's next heartbeat says so (a second or two).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = cluster.start_via(0, "g_full_x").await;
        if status == 200 {
            assert_eq!(body["existing"], false);
            break;
        }
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("capacity_exhausted"))
        );
        assert!(Instant::now() < deadline, "no place freed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_started_through_both_gateways_at_once_are_one_session_and_one_wav_each() {
    // Three channels, eight starts each, all at once through both gateways, on three recorders
    // of two places: each channel gets one session; no start is refused for room that the
    // losing duplicates would have held.
    let cluster = Cluster::start(Plan::default()).await;
    let channels = ["g_same_one", "g_same_two", "g_same_three"];
    let starts =
        futures_util::future::join_all((0..24).map(|n| cluster.start_via(n % 2, channels[n % 3])))
            .await;
    let mut sids: Vec<HashSet<String>> = vec![HashSet::new(); 3];
    let mut fresh = [0; 3];
    for (n, (status, body)) in starts.iter().enumerate() {
        assert_eq!(*status, 200, "{}: {body}", channels[n % 3]);
        sids[n % 3].insert(body["sid"].as_str().unwrap().to_owned());
        if body["existing"] == false {
            fresh[n % 3] += 1;
        }
    }
    assert!(sids.iter().all(|s| s.len() == 1), "{sids:?}");
    assert_eq!(fresh, [1, 1, 1], "{starts:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (channel, sid) in channels.iter().zip(&sids) {
        let sid = sid.iter().next().unwrap();
        let (code, stopped) = cluster
            .post(1, "/api/recording/stop", json!({"sid": sid}))
            .await;
        assert_eq!(code, 200, "{stopped}");
        let wavs: Vec<_> = cluster
            .nodes
            .iter()
            .flat_map(|n| std::fs::read_dir(n.recordings()).unwrap().flatten())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&format!("{channel}_")) && name.ends_with(".wav"))
            .collect();
        assert_eq!(wavs, vec![stopped["filename"].as_str().unwrap().to_owned()]);
    }
}
