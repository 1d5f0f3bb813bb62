//! Nothing a client or the machine does loses audio: a start during a stop gets its own session,
//! a stop whose save fails is repaired in the background, a full disk ends the session and its
//! recording is repaired once space returns.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memharbor_testkit::emulators::firebase_settings;
use serde_json::{Value, json};

use crate::helpers::{Options, TestRecorder, black_hole, everywhere, metric, spawn, tone};

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
        assert!(Instant::now() < deadline, "{sid}: not in time: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_during_an_idle_stop_gets_a_new_session() {
    // The stop takes a while: Storage never answers, so it waits out its 6 s upload bound.
    let nowhere = black_hole();
    let mut firebase = firebase_settings(&nowhere, &nowhere, "b");
    firebase.upload_wait = Duration::from_secs(6);
    let leaves = json!({"uid": 1001, "joinAt": 0, "publishAt": 0, "leaveAt": 700,
        "speech": [{"from": 0, "to": 700}], "audio": {"type": "tone", "frequency": 440, "gain": 0.3}});
    let rec = spawn(Options {
        scenario: everywhere(vec![leaves]),
        idle_timeout: Duration::from_secs(1),
        firebase: Some(firebase),
        ..Options::default()
    })
    .await;
    let first = rec.start("g1_resumed_call", false).await.body;
    let first_sid = first["sid"].as_str().unwrap().to_owned();
    wait_for(&rec, &first_sid, Duration::from_secs(10), |b| {
        b["status"] == "stopping"
    })
    .await;

    // The call resumes while the old session is still stopping: a new session records it.
    let second = rec.start("g1_resumed_call", false).await.body;
    assert_eq!(second["existing"], false, "{second}");
    let second_sid = second["sid"].as_str().unwrap().to_owned();
    assert_ne!(second_sid, first_sid);
    let (_, listed) = rec.get("/internal/sessions").await;
    let status_of = |sid: &str| {
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sid"] == sid)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status_of(&first_sid), Some(json!("stopping")), "{listed}");
    assert_eq!(status_of(&second_sid), Some(json!("recording")), "{listed}");

    let done = rec.wait_stopped(&first_sid, Duration::from_secs(20)).await;
    assert_eq!(done["stopReason"], "idle");
    // Stopping by channel now reaches the new session, not the old one's body.
    let (status, body) = rec.stop(json!({"channel": "g1_resumed_call"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sid"], second_sid.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_whose_save_fails_is_repaired_in_the_background_and_lost_nowhere() {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 0, 60_000)]),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_save_fails", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The index folder becomes unwritable (a file where the folder was).
    let index = rec.recordings.join(".memharbor/index");
    let moved = rec.recordings.join(".memharbor/index.moved");
    std::fs::rename(&index, &moved).unwrap();
    std::fs::write(&index, b"not a folder").unwrap();

    let (status, body) = rec.stop(json!({"sid": sid})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "recording_repairing");
    // The session has not vanished: it shows as stopping, and is counted as a repair.
    let (status, shown) = rec.get(&format!("/internal/sessions/{sid}")).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("stopping")));
    assert!(metric(&rec.metrics().await, "memharbor_recorder_repairs_total ").unwrap() >= 1.0);

    std::fs::remove_file(&index).unwrap();
    std::fs::rename(&moved, &index).unwrap();
    let repaired = rec.wait_stopped(&sid, Duration::from_secs(20)).await;
    assert_eq!(repaired["stopReason"], "requested", "the stop's own body");
    assert!(repaired["duration"].as_u64().unwrap() >= 1200);
    let (status, again) = rec.stop(json!({"sid": sid})).await;
    assert_eq!((status, &again), (200, &repaired));
    let (_, list) = rec.get("/internal/recordings").await;
    assert_eq!(list["recordings"][0]["id"], sid.as_str());
}

/// A small tmpfs the test owns (unmounted on drop): a disk that really fills up.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs (make test runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_owned(),
        }
    }

    /// Writes a filler file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 16 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_ends_the_session_and_its_recording_is_repaired_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("recordings"), "8m");
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 0, 60_000)]),
        recordings_dir: Some(disk.path.clone()),
        min_free_mb: 2,
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_disk_fills", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let filler = disk.fill();

    // The session notices (it does not keep saying `recording` while nothing is written).
    let ended = wait_for(&rec, &sid, Duration::from_secs(15), |b| {
        b["status"] != "recording"
    })
    .await;
    assert!(
        ["stopping", "stopped"].contains(&ended["status"].as_str().unwrap()),
        "{ended}"
    );
    assert!(
        metric(
            &rec.metrics().await,
            "memharbor_recorder_audio_write_errors_total "
        )
        .unwrap()
            >= 1.0
    );
    // No new session on a full disk: a clear 503, not a recording that cannot be written.
    let (status, refused) = rec.start_raw("g1_disk_other", false).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("disk_full")),
        "{refused}"
    );

    std::fs::remove_file(filler).unwrap();
    let repaired = rec.wait_stopped(&sid, Duration::from_secs(40)).await;
    assert_eq!(repaired["stopReason"], "error", "{repaired}");
    let wav = rec.wav(repaired["filename"].as_str().unwrap());
    assert_eq!((wav.spec.sample_rate, wav.spec.channels), (16_000, 1));
    assert!(wav.duration_ms() >= 1000.0, "{}", wav.duration_ms());
    assert_eq!(
        wav.duration_ms().floor() as u64,
        repaired["duration"].as_u64().unwrap()
    );
    // Space is back: sessions start again.
    let again = rec.start("g1_disk_other", false).await;
    let (status, _) = rec.stop(json!({"sid": again.body["sid"]})).await;
    assert_eq!(status, 200);
}
