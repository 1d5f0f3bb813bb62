//! The recorder as a process: `kill -9` mid-recording loses at most a second and leaves no browser
//! behind; SIGTERM finishes every recording before exiting.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{self, SECRET, TestRecorder, everywhere, free_port, tone};

struct Proc {
    child: Child,
    rec: TestRecorder,
}

pub fn start_process(dir: &tempfile::TempDir, recordings: &Path, port: u16, sdk: &Path) -> Child {
    start_process_with(dir, recordings, port, sdk, &[])
}

/// The recorder binary with the stand-in, plus `extra` environment.
pub fn start_process_with(
    dir: &tempfile::TempDir,
    recordings: &Path,
    port: u16,
    sdk: &Path,
    extra: &[(&str, String)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_recorder-svc"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RECORDER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RECORDER_RECORDINGS_DIR", recordings)
        .env("RECORDER_AGORA_SDK", sdk)
        .env("MEMHARBOR_SECRET_KEY", SECRET)
        .env(
            "RECORDER_CHROMIUM_EXTRA_ARGS",
            helpers::STANDIN_ARGS.join(" "),
        )
        .env("RUST_LOG", "warn")
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("recorder binary starts")
}

pub async fn wait_live(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(format!("{url}/livez"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "recorder did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn spawn_process(dir: tempfile::TempDir, port: u16) -> Proc {
    let recordings = dir.path().join("recordings");
    let sdk = helpers::standin_sdk(dir.path(), &everywhere(vec![tone(1001, 440, 0, 600_000)]));
    let child = start_process(&dir, &recordings, port, &sdk);
    let url = format!("http://127.0.0.1:{port}");
    wait_live(&url).await;
    let rec = TestRecorder {
        url,
        http: helpers::client(),
        dir,
        recordings,
    };
    Proc { child, rec }
}

fn browsers_of(recordings: &Path) -> usize {
    let needle = recordings.join(".memharbor/profiles");
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(needle.as_os_str())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

pub fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_recording_is_repaired_listed_and_playable_and_no_browser_is_left() {
    let port = free_port();
    let mut p = spawn_process(tempfile::tempdir().unwrap(), port).await;
    let started = p.rec.start("g1_killed_run", false).await;
    let filename = started.body["filename"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let killed_at_ms = started.at.elapsed().as_secs_f64() * 1000.0;
    assert!(browsers_of(&p.rec.recordings) > 0);
    signal(&p.child, "KILL");
    p.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while browsers_of(&p.rec.recordings) > 0 {
        assert!(
            Instant::now() < deadline,
            "Chromium of the killed run is still running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let sdk = p.rec.dir.path().join("agora-sdk.js");
    let mut again = start_process(&p.rec.dir, &p.rec.recordings, port, &sdk);
    wait_live(&p.rec.url).await;
    let (_, list) = p.rec.get("/internal/recordings").await;
    let item = &list["recordings"][0];
    assert_eq!(item["filename"], filename.as_str());
    let (_, body) = p
        .rec
        .get(&format!(
            "/internal/sessions/{}",
            started.body["sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(body["stopReason"], "error");
    let wav = p.rec.wav(&filename);
    assert_eq!(
        body["duration"].as_u64().unwrap(),
        wav.samples.len() as u64 / 16
    );
    // All audio up to at most a second before the kill.
    assert!(
        wav.duration_ms() >= killed_at_ms - 1000.0,
        "{} ms kept of {killed_at_ms} ms",
        wav.duration_ms()
    );
    let segments = wav.tone_segments(440.0);
    assert_eq!(segments.len(), 1);
    assert!(segments[0].1 >= wav.duration_ms() - 20.0);
    signal(&again, "KILL");
    let _ = again.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_every_recording_before_the_process_exits() {
    let port = free_port();
    let mut p = spawn_process(tempfile::tempdir().unwrap(), port).await;
    let a = p.rec.start("g1_term_one", false).await.body;
    let b = p.rec.start("g1_term_two", true).await.body;
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&p.child, "TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the recorder did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(browsers_of(&p.rec.recordings), 0);

    let sdk = p.rec.dir.path().join("agora-sdk.js");
    let mut again = start_process(&p.rec.dir, &p.rec.recordings, port, &sdk);
    wait_live(&p.rec.url).await;
    for started in [&a, &b] {
        let (_, body): (u16, Value) = p
            .rec
            .get(&format!(
                "/internal/sessions/{}",
                started["sid"].as_str().unwrap()
            ))
            .await;
        assert_eq!(body["stopReason"], "shutdown", "{body}");
        let d = body["duration"].as_u64().unwrap();
        assert!((2800..=4000).contains(&d), "{d} ms");
    }
    let (_, stop) = p.rec.stop(json!({"sid": b["sid"]})).await;
    assert_eq!(stop["speakers"][0]["uid"], 1001);
    signal(&again, "KILL");
    let _ = again.wait();
}

#[test]
fn a_malformed_service_account_stops_the_recorder_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = helpers::standin_sdk(dir.path(), &everywhere(vec![]));
    let secret = r#"{"type":"service_account","private_key":"not a key SECRET-PART"}"#;
    let out = Command::new(env!("CARGO_BIN_EXE_recorder-svc"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RECORDER_AGORA_SDK", &sdk)
        .env("RECORDER_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("MEMHARBOR_SECRET_KEY", SECRET)
        .env("FIREBASE_PROJECT_ID", "demo-p")
        .env("FIREBASE_STORAGE_BUCKET", "b")
        .env("FIREBASE_SERVICE_ACCOUNT", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("FIREBASE_SERVICE_ACCOUNT") && !stderr.contains("SECRET-PART"),
        "{stderr}"
    );
}

#[test]
fn without_a_real_secret_key_the_recorder_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = helpers::standin_sdk(dir.path(), &everywhere(vec![]));
    for secret in [None, Some("change-me"), Some("short")] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_recorder-svc"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RECORDER_AGORA_SDK", &sdk)
            .env("RECORDER_HTTP_ADDR", format!("127.0.0.1:{}", free_port()));
        if let Some(secret) = secret {
            command.env("MEMHARBOR_SECRET_KEY", secret);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{secret:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("MEMHARBOR_SECRET_KEY"), "{stderr}");
    }
}
