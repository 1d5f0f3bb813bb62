//! Sessions from start to stop: idempotency, stop by channel, repeated stops, auto-stops, the list,
//! downloads, capacity, auth.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Options, everywhere, spawn, tone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_is_idempotent_and_stop_answers_the_same_body_however_asked() {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 200, 60_000)]),
        ..Options::default()
    })
    .await;
    let first = rec.start("grp_ann_ben", false).await.body;
    assert_eq!(first["existing"], false);
    let again = rec.start("grp_ann_ben", false).await.body;
    assert_eq!(again["existing"], true);
    assert_eq!(
        (&again["sid"], &again["filename"], &again["startedAt"]),
        (&first["sid"], &first["filename"], &first["startedAt"])
    );
    let filename = first["filename"].as_str().unwrap();
    assert!(
        filename.starts_with("grp_ann_ben_20")
            && filename.ends_with(".wav")
            && filename.len() == "grp_ann_ben_".len() + 23,
        "{filename}"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, stopped) = rec.stop(json!({"channel": "grp_ann_ben"})).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["sid"], first["sid"]);
    assert_eq!(
        (
            stopped["groupId"].as_str(),
            stopped["user1"].as_str(),
            stopped["user2"].as_str()
        ),
        (Some("grp"), Some("ann"), Some("ben"))
    );
    assert_eq!(stopped["format"], "wav");
    for target in [
        json!({"sid": first["sid"]}),
        json!({"channel": "grp_ann_ben"}),
    ] {
        let (status, body) = rec.stop(target).await;
        assert_eq!((status, &body), (200, &stopped));
    }
    let (status, body) = rec
        .get(&format!(
            "/internal/sessions/{}",
            first["sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!((status, &body), (200, &stopped));

    // Unknown sessions and malformed stops.
    let (status, body) = rec
        .stop(json!({"sid": uuid::Uuid::new_v4().to_string()}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    let (status, _) = rec.stop(json!({"sid": "../../etc"})).await;
    assert_eq!(status, 404);
    let (status, _) = rec.stop(json!({"channel": "nobody_here_now"})).await;
    assert_eq!(status, 404);
    let (status, body) = rec.stop(json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("missing_field"))
    );
    let (status, body) = rec
        .stop(json!({"sid": first["sid"], "channel": "grp_ann_ben"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("conflicting_fields"))
    );
    let (status, body) = rec.start_raw("not-a-recording-channel", false).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_channel"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_pages_and_files_download_with_range() {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
        ..Options::default()
    })
    .await;
    let mut sids = Vec::new();
    for channel in ["g1_ann_ben", "g1_cat_ann", "g2_dan_eve"] {
        let started = rec.start(channel, false).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (_, body) = rec.stop(json!({"sid": started.body["sid"]})).await;
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    let ids = |page: &Value| -> Vec<String> {
        page["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = rec.get("/internal/recordings").await;
    assert_eq!(
        ids(&all),
        vec![sids[2].clone(), sids[1].clone(), sids[0].clone()],
        "newest first"
    );
    assert!(all["nextCursor"].is_null());
    let item = &all["recordings"][2];
    for field in [
        "filename",
        "url",
        "channel",
        "groupId",
        "user1",
        "user2",
        "format",
        "recordedAt",
        "createdAt",
    ] {
        assert!(item[field].is_string(), "{field} in {item}");
    }
    assert_eq!(
        item["spec"],
        json!({"sampleRate": 16000, "channels": 1, "bitDepth": 16})
    );
    assert!(item["duration"].as_u64().unwrap() >= 600 && item["fileSize"].as_u64().unwrap() > 44);

    let (_, by_group) = rec.get("/internal/recordings?groupId=g1").await;
    assert_eq!(ids(&by_group), vec![sids[1].clone(), sids[0].clone()]);
    let (_, by_user) = rec.get("/internal/recordings?user=ann").await;
    assert_eq!(ids(&by_user), vec![sids[1].clone(), sids[0].clone()]);
    let (_, by_channel) = rec.get("/internal/recordings?channel=g2_dan_eve").await;
    assert_eq!(ids(&by_channel), vec![sids[2].clone()]);

    let (_, page1) = rec.get("/internal/recordings?limit=2").await;
    assert_eq!(ids(&page1).len(), 2);
    let cursor = page1["nextCursor"].as_str().unwrap();
    let (_, page2) = rec
        .get(&format!("/internal/recordings?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&page2), vec![sids[0].clone()]);
    assert!(page2["nextCursor"].is_null());
    for bad in ["limit=0", "limit=201", "limit=x", "cursor=garbage!"] {
        let (status, body) = rec.get(&format!("/internal/recordings?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let filename = item["filename"].as_str().unwrap();
    let url = format!("{}/internal/files/{filename}", rec.url);
    let whole = rec.http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "audio/wav");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, item["fileSize"].as_u64().unwrap());
    let part = rec
        .http
        .get(&url)
        .header("range", "bytes=0-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-11/{}", bytes.len())
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &bytes[..12]);
    for name in ["nope.wav", "..%2F..%2Fetc%2Fpasswd", ".memharbor%2Findex"] {
        let r = rec
            .http
            .get(format!("{}/internal/files/{name}", rec.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{name}");
    }

    // Only the gateway (with the key) may call the internal API; ops endpoints are open.
    let r = reqwest::get(format!("{}/internal/recordings", rec.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for open in ["/livez", "/readyz", "/status"] {
        assert_eq!(
            reqwest::get(format!("{}{open}", rec.url))
                .await
                .unwrap()
                .status(),
            200,
            "{open}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stop_by_themselves_when_idle_or_at_the_maximum_length() {
    let leaves = json!({"uid": 1001, "joinAt": 0, "publishAt": 0, "leaveAt": 1000,
        "speech": [{"from": 0, "to": 1000}], "audio": {"type": "tone", "frequency": 440, "gain": 0.3}});
    let scenario = json!({"channels": {
        "g1_idle_leaver": {"participants": [leaves]},
        "g1_idle_nobody": {"participants": []},
        "g1_long_call": {"participants": [tone(1002, 660, 0, 60_000)]},
    }});
    let rec = spawn(Options {
        scenario,
        idle_timeout: Duration::from_secs(2),
        max_duration: Duration::from_secs(6),
        ..Options::default()
    })
    .await;
    let leaver = rec.start("g1_idle_leaver", false).await.body;
    let nobody = rec.start("g1_idle_nobody", false).await.body;
    let long = rec.start("g1_long_call", false).await.body;

    let body = rec
        .wait_stopped(leaver["sid"].as_str().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(body["stopReason"], "idle");
    // Stopped 2 s after the last user left (at 1 s).
    let d = body["duration"].as_u64().unwrap();
    assert!((2800..=3600).contains(&d), "idle stop after {d} ms");
    let body = rec
        .wait_stopped(nobody["sid"].as_str().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(body["stopReason"], "idle");
    let body = rec
        .wait_stopped(long["sid"].as_str().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(body["stopReason"], "max_duration");
    let d = body["duration"].as_u64().unwrap();
    assert!((5900..=6200).contains(&d), "max-duration stop after {d} ms");
    let (_, status) = rec.get("/internal/sessions").await;
    assert_eq!(status["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_session_cap_start_answers_503_but_the_full_recorder_still_serves() {
    let rec = spawn(Options {
        max_sessions: 1,
        ..Options::default()
    })
    .await;
    rec.start("g1_cap_one", false).await;
    let r = rec
        .http
        .post(format!("{}/internal/sessions", rec.url))
        .json(&json!({"channel": "g1_cap_two", "appId": crate::helpers::APP_ID, "token": crate::helpers::TOKEN, "uid": 999_999}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "at_capacity");
    // Full is not unready: Kubernetes keeps routing to it, so its sessions can still be seen
    // and stopped (readiness 503 here once left a full recorder unreachable for every stop).
    let (status, ready) = rec.get("/readyz").await;
    assert_eq!(
        (status, ready["status"].as_str(), ready["full"].as_bool()),
        (200, Some("ready"), Some(true))
    );
    let (status, list) = rec.get("/internal/sessions").await;
    assert_eq!((status, list["count"].as_u64()), (200, Some(1)));
    // The first session is untouched, and stops.
    let (status, _) = rec.stop(json!({"channel": "g1_cap_one"})).await;
    assert_eq!(status, 200);
    let (status, ready) = rec.get("/readyz").await;
    assert_eq!((status, ready["full"].as_bool()), (200, Some(false)));
}
