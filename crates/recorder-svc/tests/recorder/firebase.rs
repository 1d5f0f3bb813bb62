//! With Firebase configured, every recording lands in Storage and Firestore exactly once, and
//! nothing is lost on the way: unreachable services, a recorder killed mid-delivery, refusals.
//! Against Google's Firestore emulator and fake-gcs-server, started per test.

use std::time::{Duration, Instant};

use memharbor_testkit::emulators::{self, Server, firebase_settings};
use serde_json::{Value, json};

use crate::helpers::{Options, TestRecorder, black_hole, everywhere, free_port, spawn, tone};
use crate::process::{signal, start_process_with, wait_live};

const BUCKET: &str = "demo-memharbor.appspot.com";

async fn record(rec: &TestRecorder, channel: &str, speakers: bool, ms: u64) -> (u16, Value) {
    let started = rec.start(channel, speakers).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    rec.stop(json!({"sid": started.body["sid"]})).await
}

/// Polls `GET /internal/sessions/{sid}` until `done(body)`.
async fn wait_for(
    rec: &TestRecorder,
    sid: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, body) = rec.get(&format!("/internal/sessions/{sid}")).await;
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{sid}: condition not met in time: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn field_kind<'a>(doc: &'a Value, name: &str) -> (&'a str, &'a Value) {
    let (kind, value) = doc["fields"][name]
        .as_object()
        .unwrap_or_else(|| panic!("{name} missing in {doc}"))
        .iter()
        .next()
        .unwrap();
    (kind.as_str(), value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_land_in_storage_and_firestore_exactly_once_and_list_from_firestore() {
    let (firestore, gcs) = (emulators::firestore(0).await, emulators::fake_gcs(0).await);
    gcs.create_bucket(BUCKET).await;
    let rec = spawn(Options {
        scenario: everywhere(vec![
            tone(1001, 440, 100, 60_000),
            tone(1002, 660, 100, 60_000),
        ]),
        firebase: Some(firebase_settings(&firestore.url, &gcs.url, BUCKET)),
        ..Options::default()
    })
    .await;
    let mut bodies = Vec::new();
    for (channel, speakers) in [
        ("g1_ann_ben", true),
        ("g1_cat_ann", false),
        ("g2_dan_eve", false),
    ] {
        let (status, body) = record(&rec, channel, speakers, 1200).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.get("upload").is_none(),
            "uploaded within the bound: {body}"
        );
        bodies.push(body);
    }

    let first = &bodies[0];
    let filename = first["filename"].as_str().unwrap();
    let fb = &first["firebase"];
    assert_eq!(fb["storagePath"], format!("recordings/{filename}"));
    assert_eq!(fb["firestoreId"], first["sid"]);
    let url = fb["url"].as_str().unwrap();
    let token = url.rsplit_once("&token=").unwrap().1;
    assert_eq!(
        url,
        format!(
            "{}/v0/b/{BUCKET}/o/recordings%2F{filename}?alt=media&token={token}",
            gcs.url
        )
    );
    // The object is the local file, byte for byte, with its type and download token.
    let local = std::fs::read(rec.recordings.join(filename)).unwrap();
    assert_eq!(
        gcs.object_bytes(BUCKET, &format!("recordings/{filename}"))
            .await,
        local
    );
    let meta = gcs
        .object_meta(BUCKET, &format!("recordings/{filename}"))
        .await;
    assert_eq!(meta["contentType"], "audio/wav");
    assert_eq!(meta["metadata"]["firebaseStorageDownloadTokens"], token);
    for speaker in first["speakers"].as_array().unwrap() {
        let name = speaker["filename"].as_str().unwrap();
        assert_eq!(
            speaker["firebase"]["storagePath"],
            format!("recordings/{name}")
        );
        assert_eq!(
            gcs.object_bytes(BUCKET, &format!("recordings/{name}"))
                .await,
            std::fs::read(rec.recordings.join(name)).unwrap()
        );
    }

    // Exactly one document per recording, with the spec's fields and types.
    let docs = firestore.documents("recordings").await;
    assert_eq!(docs.len(), 3);
    let doc = docs
        .iter()
        .find(|d| {
            d["name"]
                .as_str()
                .unwrap()
                .ends_with(first["sid"].as_str().unwrap())
        })
        .unwrap();
    for name in [
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
        assert_eq!(field_kind(doc, name).0, "stringValue", "{name}");
    }
    for name in ["duration", "fileSize"] {
        assert_eq!(field_kind(doc, name).0, "integerValue", "{name}");
    }
    assert_eq!(field_kind(doc, "filename").1, filename);
    assert_eq!(field_kind(doc, "url").1, url);
    assert_eq!(
        field_kind(doc, "duration").1,
        &Value::String(first["duration"].to_string())
    );
    assert_eq!(
        field_kind(doc, "fileSize").1,
        &Value::String(local.len().to_string())
    );
    assert_eq!(field_kind(doc, "format").1, "wav");
    assert_eq!(
        (
            field_kind(doc, "groupId").1,
            field_kind(doc, "user1").1,
            field_kind(doc, "user2").1
        ),
        (&json!("g1"), &json!("ann"), &json!("ben"))
    );
    let spec = &doc["fields"]["spec"]["mapValue"]["fields"];
    assert_eq!(
        *spec,
        json!({"sampleRate": {"integerValue": "16000"}, "channels": {"integerValue": "1"}, "bitDepth": {"integerValue": "16"}})
    );
    let iso = |v: &Value| {
        let s = v.as_str().unwrap();
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
    };
    assert!(iso(field_kind(doc, "recordedAt").1) && iso(field_kind(doc, "createdAt").1));
    assert_eq!(field_kind(doc, "recordedAt").1, &first["startedAt"]);

    // The list reads Firestore: filters, newest first, cursor paging.
    let ids = |page: &Value| -> Vec<String> {
        page["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let sid = |i: usize| bodies[i]["sid"].as_str().unwrap().to_owned();
    let (_, all) = rec.get("/internal/recordings").await;
    assert_eq!(ids(&all), vec![sid(2), sid(1), sid(0)]);
    assert_eq!(all["recordings"][2]["url"], url);
    assert_eq!(
        all["recordings"][2]["spec"],
        json!({"sampleRate": 16000, "channels": 1, "bitDepth": 16})
    );
    let (_, by_channel) = rec.get("/internal/recordings?channel=g1_cat_ann").await;
    assert_eq!(ids(&by_channel), vec![sid(1)]);
    let (_, by_group) = rec.get("/internal/recordings?groupId=g1").await;
    assert_eq!(ids(&by_group), vec![sid(1), sid(0)]);
    let (_, by_user) = rec.get("/internal/recordings?user=ann").await;
    assert_eq!(ids(&by_user), vec![sid(1), sid(0)]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/internal/recordings?limit=1&cursor={c}"),
            None => "/internal/recordings?limit=1".to_owned(),
        };
        let (_, page) = rec.get(&path).await;
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![sid(2), sid(1), sid(0)]);

    // Stop again: the same body.
    let (_, again) = rec.stop(json!({"sid": first["sid"]})).await;
    assert_eq!(&again, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_unreachable_at_stop_means_pending_then_uploaded_once_when_it_returns() {
    let firestore = emulators::firestore(0).await;
    let gcs_port = free_port();
    let mut settings = firebase_settings(
        &firestore.url,
        &format!("http://127.0.0.1:{gcs_port}"),
        BUCKET,
    );
    settings.upload_wait = Duration::from_secs(2);
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
        firebase: Some(settings),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_pending_up", false).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let asked = Instant::now();
    let (status, body) = rec.stop(json!({"sid": started.body["sid"]})).await;
    assert_eq!(status, 200);
    // The stop waits for the upload only as long as it is told (2 s here, 30 s by default), then
    // answers with what it has; the margin is for a loaded CI box, not part of the bound.
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stop waited {:?}, far past RECORDER_UPLOAD_WAIT_S=2",
        asked.elapsed()
    );
    assert!(body["firebase"].is_null(), "{body}");
    assert_eq!(body["upload"]["state"], "pending");
    assert!(body["upload"]["attempts"].as_u64().unwrap() >= 1);
    assert!(
        body["upload"]["lastError"]
            .as_str()
            .unwrap()
            .contains("uploa"),
        "{body}"
    );
    let filename = body["filename"].as_str().unwrap().to_owned();
    assert!(
        rec.recordings.join(&filename).exists(),
        "the local copy is kept"
    );
    let (_, status_page) = rec.get("/status").await;
    assert!(
        status_page["uploads"]["failing"].as_u64().unwrap() >= 1,
        "{}",
        status_page["uploads"]
    );

    let gcs: Server = emulators::fake_gcs(gcs_port).await;
    gcs.create_bucket(BUCKET).await;
    let sid = body["sid"].as_str().unwrap();
    let done = wait_for(&rec, sid, Duration::from_secs(40), |b| {
        b["firebase"].is_object()
    })
    .await;
    assert!(done.get("upload").is_none(), "{done}");
    assert_eq!(
        gcs.object_bytes(BUCKET, &format!("recordings/{filename}"))
            .await,
        std::fs::read(rec.recordings.join(&filename)).unwrap()
    );
    assert_eq!(firestore.documents("recordings").await.len(), 1);
    assert!(
        rec.recordings.join(&filename).exists(),
        "kept for RECORDER_KEEP_LOCAL_DAYS after the upload"
    );
    let (_, again) = rec.stop(json!({"sid": sid})).await;
    assert_eq!(again["firebase"], done["firebase"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_killed_between_upload_and_document_writes_exactly_one_document_after_restart() {
    let gcs = emulators::fake_gcs(0).await;
    gcs.create_bucket(BUCKET).await;
    let firestore_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    let sdk =
        memharbor_testkit::standin_sdk(dir.path(), &everywhere(vec![tone(1001, 440, 100, 60_000)]));
    let port = free_port();
    let env = vec![
        ("FIREBASE_PROJECT_ID", "demo-memharbor".to_owned()),
        ("FIREBASE_STORAGE_BUCKET", BUCKET.to_owned()),
        ("FIREBASE_USE_EMULATOR", "true".to_owned()),
        (
            "FIRESTORE_EMULATOR_HOST",
            format!("127.0.0.1:{firestore_port}"),
        ),
        ("STORAGE_EMULATOR_HOST", gcs.url.clone()),
        ("RECORDER_UPLOAD_WAIT_S", "2".to_owned()),
    ];
    let mut child = start_process_with(&dir, &recordings, port, &sdk, &env);
    let rec = TestRecorder {
        url: format!("http://127.0.0.1:{port}"),
        http: memharbor_testkit::client(),
        dir,
        recordings,
    };
    wait_live(&rec.url).await;
    let (_, body) = record(&rec, "g1_killed_mid", false, 1000).await;
    let sid = body["sid"].as_str().unwrap().to_owned();
    let filename = body["filename"].as_str().unwrap().to_owned();
    // The object is uploaded; the document cannot be written (Firestore is down).
    let deadline = Instant::now() + Duration::from_secs(20);
    while gcs
        .object_meta(BUCKET, &format!("recordings/{filename}"))
        .await
        .is_null()
    {
        assert!(Instant::now() < deadline, "the object was never uploaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The operator sees the cause on /status; the client a general sentence.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status_page) = rec.get("/status").await;
        if status_page["uploads"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("Firestore"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{status_page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, pending) = rec.get(&format!("/internal/sessions/{sid}")).await;
    assert!(pending["firebase"].is_null());
    assert_eq!(
        pending["upload"]["lastError"], "the last upload attempt failed; it is retried",
        "{pending}"
    );
    signal(&child, "KILL");
    let _ = child.wait();

    let firestore = emulators::firestore(firestore_port).await;
    assert!(firestore.documents("recordings").await.is_empty());
    let mut again = start_process_with(&rec.dir, &rec.recordings, port, &sdk, &env);
    wait_live(&rec.url).await;
    let done = wait_for(&rec, &sid, Duration::from_secs(30), |b| {
        b["firebase"].is_object()
    })
    .await;
    assert_eq!(done["firebase"]["firestoreId"], sid.as_str());
    assert_eq!(firestore.documents("recordings").await.len(), 1);
    signal(&again, "KILL");
    let _ = again.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_explained_and_not_hammered() {
    let firestore = emulators::firestore(0).await;
    // A Storage without the bucket (404), and one that answers 403 to everything.
    let no_bucket = emulators::fake_gcs(0).await;
    let forbidden = memharbor_testkit::canned(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 74\r\nconnection: close\r\n\r\n{\"error\":{\"code\":403,\"message\":\"caller does not have storage.objects.create\"}}",
    );
    for (storage, expect) in [
        (no_bucket.url.clone(), "not found"),
        (forbidden, "permission denied"),
    ] {
        let mut settings = firebase_settings(&firestore.url, &storage, BUCKET);
        settings.upload_wait = Duration::from_secs(2);
        let rec = spawn(Options {
            scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
            firebase: Some(settings),
            ..Options::default()
        })
        .await;
        let (_, body) = record(&rec, "g1_refused_x", false, 800).await;
        assert!(body["firebase"].is_null());
        // The client reads what kind of failure it is; Google's words (which name the service
        // account, bucket and project) stay with the operator, on /status and in the log.
        let error = body["upload"]["lastError"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(error.contains("refused"), "{expect}: {body}");
        assert!(!error.contains("caller does not have"), "{body}");
        assert_eq!(body["upload"]["phase"], "refused", "{body}");
        let (_, status_page) = rec.get("/status").await;
        assert!(
            status_page["uploads"]["lastError"]
                .as_str()
                .unwrap_or_default()
                .contains(expect),
            "{expect}: {status_page}"
        );
        // Not retried every second: a refusal needs an operator.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (_, later) = rec
            .get(&format!(
                "/internal/sessions/{}",
                body["sid"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            later["upload"]["attempts"], body["upload"]["attempts"],
            "{later}"
        );
        assert!(
            rec.recordings
                .join(body["filename"].as_str().unwrap())
                .exists()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_whose_upload_could_not_be_queued_reaches_firebase_once_it_can() {
    let (firestore, gcs) = (emulators::firestore(0).await, emulators::fake_gcs(0).await);
    gcs.create_bucket(BUCKET).await;
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
        firebase: Some(firebase_settings(&firestore.url, &gcs.url, BUCKET)),
        ..Options::default()
    })
    .await;
    // The upload jobs' folder is unusable when the recording stops (a file where it was).
    let uploads = rec.recordings.join(".memharbor/uploads");
    let moved = rec.recordings.join(".memharbor/uploads.moved");
    std::fs::rename(&uploads, &moved).unwrap();
    std::fs::write(&uploads, b"not a folder").unwrap();
    let (status, body) = record(&rec, "g1_unqueued_up", false, 800).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upload"]["state"], "pending", "{body}");
    assert_eq!(body["upload"]["attempts"], 0, "{body}");
    let sid = body["sid"].as_str().unwrap().to_owned();

    // Once the folder works again, housekeeping queues the job the stop could not create.
    std::fs::remove_file(&uploads).unwrap();
    std::fs::rename(&moved, &uploads).unwrap();
    let done = wait_for(&rec, &sid, Duration::from_secs(60), |b| {
        b["firebase"].is_object()
    })
    .await;
    assert_eq!(done["firebase"]["firestoreId"], sid.as_str());
    assert_eq!(firestore.documents("recordings").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_killed_during_the_upload_wait_uploads_one_object_with_one_token() {
    let (firestore, gcs) = (emulators::firestore(0).await, emulators::fake_gcs(0).await);
    gcs.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    let sdk =
        memharbor_testkit::standin_sdk(dir.path(), &everywhere(vec![tone(1001, 440, 100, 60_000)]));
    let port = free_port();
    let env_with = |storage: &str| {
        vec![
            ("FIREBASE_PROJECT_ID", "demo-memharbor".to_owned()),
            ("FIREBASE_STORAGE_BUCKET", BUCKET.to_owned()),
            ("FIREBASE_USE_EMULATOR", "true".to_owned()),
            ("FIRESTORE_EMULATOR_HOST", firestore.url.clone()),
            ("STORAGE_EMULATOR_HOST", storage.to_owned()),
            ("RECORDER_UPLOAD_WAIT_S", "30".to_owned()),
        ]
    };
    // First run: Storage never answers, so the stop sits in its upload wait…
    let mut child = start_process_with(&dir, &recordings, port, &sdk, &env_with(&black_hole()));
    let rec = TestRecorder {
        url: format!("http://127.0.0.1:{port}"),
        http: memharbor_testkit::client(),
        dir,
        recordings,
    };
    wait_live(&rec.url).await;
    let started = rec.start("g1_killed_wait", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopper = {
        let rec_url = rec.url.clone();
        let sid = sid.clone();
        tokio::spawn(async move {
            let _ = memharbor_testkit::client()
                .post(format!("{rec_url}/internal/sessions/stop"))
                .json(&json!({"sid": sid}))
                .send()
                .await;
        })
    };
    wait_for(&rec, &sid, Duration::from_secs(10), |b| {
        b["status"] == "stopping"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // …and is killed there: the upload job exists, the record was never saved.
    signal(&child, "KILL");
    let _ = child.wait();
    stopper.abort();

    let mut again = start_process_with(&rec.dir, &rec.recordings, port, &sdk, &env_with(&gcs.url));
    wait_live(&rec.url).await;
    let done = wait_for(&rec, &sid, Duration::from_secs(60), |b| {
        b["firebase"].is_object()
    })
    .await;
    let documents = firestore.documents("recordings").await;
    assert_eq!(documents.len(), 1);
    let (_, url) = field_kind(&documents[0], "url");
    let token_of = |url: &str| url.rsplit_once("token=").unwrap().1.to_owned();
    // (The host differs: this test moved Storage between the two runs; production's does not.)
    assert_eq!(
        token_of(url.as_str().unwrap()),
        token_of(done["firebase"]["url"].as_str().unwrap())
    );
    // The object's download token is the one every URL carries: one job, one upload.
    let meta = gcs
        .object_meta(
            BUCKET,
            &format!("recordings/{}", done["filename"].as_str().unwrap()),
        )
        .await;
    let token = meta["metadata"]["firebaseStorageDownloadTokens"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.as_str().unwrap().ends_with(&format!("token={token}")),
        "{url} vs {token}"
    );
    let jobs = std::fs::read_dir(rec.recordings.join(".memharbor/uploads"))
        .unwrap()
        .count();
    assert_eq!(jobs, 1, "one job for the recording");
    signal(&again, "KILL");
    let _ = again.wait();
}
