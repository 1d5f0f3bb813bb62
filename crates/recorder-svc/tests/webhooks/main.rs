//! Webhooks with a real receiver and a real verifier: a Python receiver that checks every
//! delivery with `standardwebhooks` (Standard Webhooks' own library), the recorder binary as a
//! process (killed with -9 and restarted), the gateway in-process, the SDK stand-in, and the
//! Firebase emulators where `recording.uploaded` matters.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

// Shared with the cluster tests: not every helper is used here.
#[allow(dead_code)]
#[path = "../cluster/harness.rs"]
mod harness;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::Node;
use memharbor_testkit::{self as kit, emulators};
use serde_json::{Value, json};

/// The receiver's secret; the recorder signs with an older one too (a rotation in progress).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BUCKET: &str = "demo-memharbor.appspot.com";

struct Receiver {
    port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Receiver {
    async fn start(port: u16) -> Self {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.tools/venv/bin/python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py");
        let child = Command::new(python)
            .args([script, &port.to_string(), SECRET])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("make test installs the receiver's Python (.tools/venv, standardwebhooks)");
        let receiver = Self {
            port,
            child: Some(child),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while receiver.try_log().await.is_none() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn try_log(&self) -> Option<Vec<Value>> {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{}/_log", self.port))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn log(&self) -> Vec<Value> {
        self.try_log().await.unwrap()
    }

    async fn answer_with(&self, status: u16) {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/_mode", self.port))
            .json(&json!({ "status": status }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn verifies(&self, body: &str, headers: &Value) -> bool {
        let r: Value = self
            .http
            .post(format!("http://127.0.0.1:{}/_verify", self.port))
            .json(&json!({ "body": body, "headers": headers }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["ok"] == true
    }

    /// Waits until the receiver accepted (2xx) an event of `kind` for `sid`; returns every
    /// accepted delivery so far.
    async fn wait_for(&self, sid: &str, kind: &str, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let accepted = accepted(&self.log().await);
            if accepted
                .iter()
                .any(|e| e["type"] == kind && e["data"]["sid"] == sid)
            {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} for {sid}: {:#?}",
                self.log().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bodies of the deliveries the receiver accepted, in arrival order.
fn accepted(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|d| {
            d["answered"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
        .map(|d| {
            let mut body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
            body["_id"] = d["id"].clone();
            body["_verified"] = d["verified"].clone();
            body
        })
        .collect()
}

/// The event types of `sid`'s accepted deliveries, in order.
fn types_of(events: &[Value], sid: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["data"]["sid"] == sid)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn webhook_env(receiver: &Receiver) -> Vec<(String, String)> {
    vec![
        ("MEMHARBOR_WEBHOOK_URLS".into(), receiver.url()),
        (
            "MEMHARBOR_WEBHOOK_SECRET".into(),
            format!("{OLD_SECRET},{SECRET}"),
        ),
        (
            "MEMHARBOR_WEBHOOK_RETRY_S".into(),
            "1,1,1,1,1,1,1,1,1,1".into(),
        ),
        ("MEMHARBOR_WEBHOOK_TIMEOUT_S".into(), "2".into()),
    ]
}

async fn start(gateway: &str, channel: &str) -> String {
    let (code, body) = kit::json_of(
        kit::client()
            .post(format!("{gateway}/api/recording/start"))
            .json(&json!({ "channel": channel }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body["sid"].as_str().unwrap().to_owned()
}

async fn stop(gateway: &str, sid: &str) -> Value {
    let (code, body) = kit::json_of(
        kit::client()
            .post(format!("{gateway}/api/recording/stop"))
            .json(&json!({ "sid": sid }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_heard_in_order_once_each_signed_and_verified() {
    let (firestore, gcs) = (emulators::firestore(0).await, emulators::fake_gcs(0).await);
    gcs.create_bucket(BUCKET).await;
    let receiver = Receiver::start(kit::free_port()).await;
    // 1001 speaks and leaves after 3 s; 1002 joins half a second in and stays.
    let mut leaving = kit::tone(1001, 440, 0, 3_000);
    leaving["leaveAt"] = json!(3_000);
    let mut staying = kit::tone(1002, 880, 0, 600_000);
    staying["joinAt"] = json!(500);
    staying["publishAt"] = json!(500);
    let mut env = webhook_env(&receiver);
    env.extend([
        (
            "FIREBASE_PROJECT_ID".to_owned(),
            "demo-memharbor".to_owned(),
        ),
        ("FIREBASE_STORAGE_BUCKET".into(), BUCKET.into()),
        ("FIREBASE_USE_EMULATOR".into(), "true".into()),
        (
            "FIRESTORE_EMULATOR_HOST".into(),
            format!("127.0.0.1:{}", firestore.port),
        ),
        ("FIREBASE_STORAGE_EMULATOR_HOST".into(), gcs.url.clone()),
    ]);
    let node = Node::start(
        "webhooks",
        &kit::everywhere(vec![leaving, staying]),
        env,
        None,
    );
    node.wait_ready().await;
    let gateway = harness::single_gateway(&node.url).await;

    let sid = start(&gateway, "hooks_ann_ben").await;
    receiver
        .wait_for(&sid, "recording.participant_left", Duration::from_secs(30))
        .await;
    let stopped = stop(&gateway, &sid).await;
    let events = receiver
        .wait_for(&sid, "recording.uploaded", Duration::from_secs(60))
        .await;
    assert_eq!(
        types_of(&events, &sid),
        [
            "recording.started",
            "recording.participant_joined",
            "recording.participant_joined",
            "recording.participant_left",
            "recording.stopped",
            "recording.uploaded"
        ],
        "{events:#?}"
    );
    let mine: Vec<&Value> = events.iter().filter(|e| e["data"]["sid"] == sid).collect();
    // Each verified by the library, each id once, numbers rising.
    assert!(mine.iter().all(|e| e["_verified"] == true), "{mine:#?}");
    let ids: std::collections::HashSet<_> = mine.iter().map(|e| e["_id"].to_string()).collect();
    assert_eq!(ids.len(), mine.len());
    let seqs: Vec<u64> = mine
        .iter()
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(mine[1]["data"]["uid"], 1001);
    assert_eq!(mine[2]["data"]["uid"], 1002);
    assert_eq!(mine[3]["data"]["uid"], 1001);
    assert_eq!(mine[0]["data"]["channel"], "hooks_ann_ben");
    // `stopped` carries the stop body; `uploaded` where each object is and its MD5.
    assert_eq!(mine[4]["data"]["duration"], stopped["duration"]);
    assert_eq!(mine[4]["data"]["filename"], stopped["filename"]);
    let files = mine[5]["data"]["files"].as_array().unwrap();
    assert_eq!(files[0]["filename"], stopped["filename"]);
    assert!(files[0]["md5"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(mine[5]["data"]["firestoreId"], sid);

    // Nothing more arrives: each event exactly once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.log().await.len(), 6, "{:#?}", receiver.log().await);

    // The library catches a tampered body and a stale (correctly signed) delivery.
    let log = receiver.log().await;
    let first = &log[0];
    let body = first["body"].as_str().unwrap();
    assert!(receiver.verifies(body, &first["headers"]).await);
    let tampered = body.replace("hooks_ann_ben", "hooks_eve_ben");
    assert!(!receiver.verifies(&tampered, &first["headers"]).await);
    let id = first["id"].as_str().unwrap();
    let stale = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    let signature = standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .sign(id, stale, body.as_bytes())
        .unwrap();
    let headers = json!({"webhook-id": id, "webhook-timestamp": stale.to_string(),
                         "webhook-signature": signature});
    assert!(!receiver.verifies(body, &headers).await);
    let fresh = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .sign(id, fresh, body.as_bytes())
        .unwrap();
    let headers = json!({"webhook-id": id, "webhook-timestamp": fresh.to_string(),
                         "webhook-signature": signature});
    assert!(receiver.verifies(body, &headers).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_an_absent_receiver_gets_everything_after_and_410_disables() {
    let port = kit::free_port();
    let mut receiver = Receiver::start(port).await;
    receiver.answer_with(500).await;
    let node = Node::start(
        "webhooks",
        &kit::everywhere(vec![kit::tone(1001, 440, 0, 600_000)]),
        webhook_env(&receiver),
        None,
    );
    node.wait_ready().await;
    let gateway = harness::single_gateway(&node.url).await;
    let first = start(&gateway, "hooks_a_b").await;
    // 500: the same event again, a second later each time, nothing after it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = receiver.log().await;
    assert!(log.len() >= 2, "{log:#?}");
    assert!(
        log.iter()
            .all(|d| d["id"] == log[0]["id"] && d["answered"] == 500)
    );
    let status = node.status().await;
    let endpoint = &status["webhooks"]["endpoints"][0];
    assert_eq!(endpoint["lastError"], "HTTP 500", "{status}");
    assert!(endpoint["pending"].as_u64().unwrap() >= 2, "{status}");

    // Away altogether while the recording is stopped and another starts.
    receiver.stop();
    stop(&gateway, &first).await;
    let second = start(&gateway, "hooks_c_d").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = node.status().await;
    assert!(
        status["webhooks"]["endpoints"][0]["lastError"]
            .as_str()
            .is_some_and(|e| !e.starts_with("HTTP")),
        "{status}"
    );
    let mut receiver = Receiver::start(port).await;
    let events = receiver
        .wait_for(
            &second,
            "recording.participant_joined",
            Duration::from_secs(30),
        )
        .await;
    let events = if types_of(&events, &first).len() < 3 {
        receiver
            .wait_for(&first, "recording.stopped", Duration::from_secs(30))
            .await
    } else {
        events
    };
    assert_eq!(
        types_of(&events, &first),
        [
            "recording.started",
            "recording.participant_joined",
            "recording.stopped"
        ]
    );
    assert_eq!(
        types_of(&events, &second),
        ["recording.started", "recording.participant_joined"]
    );
    assert!(events.iter().all(|e| e["_verified"] == true));

    // 410 Gone: the endpoint is disabled and says so; events wait; re-enabled, they come.
    receiver.answer_with(410).await;
    stop(&gateway, &second).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let disabled = loop {
        let status = node.status().await;
        let endpoint = status["webhooks"]["endpoints"][0].clone();
        if endpoint["disabled"] == true {
            break endpoint;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(disabled["pending"], 1, "{disabled}");
    let tried = receiver.log().await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.log().await.len(),
        tried,
        "a disabled endpoint is left alone"
    );
    let metrics = node.metrics().await;
    assert!(metrics.contains("outcome=\"gone\""), "{metrics}");
    receiver.answer_with(200).await;
    let key = disabled["endpoint"].as_str().unwrap();
    let (code, body) = node
        .post("/internal/webhooks/enable", json!({ "endpoint": key }))
        .await;
    assert_eq!((code, &body["enabled"]), (200, &json!(1)), "{body}");
    let events = receiver
        .wait_for(&second, "recording.stopped", Duration::from_secs(20))
        .await;
    assert_eq!(
        types_of(&events, &second),
        [
            "recording.started",
            "recording.participant_joined",
            "recording.stopped"
        ]
    );
    receiver.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pending_at_a_kill_9_are_delivered_after_the_restart() {
    let receiver = Receiver::start(kit::free_port()).await;
    receiver.answer_with(500).await;
    let mut node = Node::start(
        "webhooks",
        &kit::everywhere(vec![kit::tone(1001, 440, 0, 600_000)]),
        webhook_env(&receiver),
        None,
    );
    node.wait_ready().await;
    let gateway = harness::single_gateway(&node.url).await;
    let done = start(&gateway, "hooks_k_l").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(&gateway, &done).await;
    let running = start(&gateway, "hooks_m_n").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let refused: std::collections::HashSet<String> = receiver
        .log()
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    node.kill();
    receiver.answer_with(200).await;
    node.restart();
    node.wait_ready().await;
    let events = receiver
        .wait_for(&running, "recording.stopped", Duration::from_secs(60))
        .await;
    let events = if types_of(&events, &done).len() < 3 {
        receiver
            .wait_for(&done, "recording.stopped", Duration::from_secs(30))
            .await
    } else {
        events
    };
    assert_eq!(
        types_of(&events, &done),
        [
            "recording.started",
            "recording.participant_joined",
            "recording.stopped"
        ]
    );
    // The killed session is recovered at restart and heard as stopped.
    assert_eq!(
        types_of(&events, &running),
        [
            "recording.started",
            "recording.participant_joined",
            "recording.stopped"
        ]
    );
    // What the receiver refused before the kill came again with the same ids.
    let ids: std::collections::HashSet<String> = events
        .iter()
        .map(|e| e["_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        refused.iter().all(|id| ids.contains(id)),
        "{refused:?} {ids:?}"
    );
    assert!(events.iter().all(|e| e["_verified"] == true));
}
