//! Crashes: a tab's renderer, a whole browser. The recording goes on in the same file; the time the
//! bot was away is silence, and the session's history says what happened.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Options, TestRecorder, everywhere, spawn, tone};

/// `sid` as `/status` shows it.
async fn session(rec: &TestRecorder, sid: &str) -> Value {
    let (_, status) = rec.get("/status").await;
    status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sid"] == sid)
        .cloned()
        .unwrap()
}

async fn wait_rejoined(rec: &TestRecorder, sid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let session = session(rec, sid).await;
        if session["rejoins"].as_u64().unwrap() >= 1 && session["phase"] == "recording" {
            return session;
        }
        assert!(Instant::now() < deadline, "no rejoin: {session}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The late audio the recorder reports for `sid` so far.
async fn late_audio_ms(rec: &TestRecorder, sid: &str) -> u64 {
    session(rec, sid).await["audio"]["lateAudioMs"]
        .as_u64()
        .unwrap()
}

async fn crash_and_check(kind: &str, channel: &str) {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 0, 600_000)]),
        ..Options::default()
    })
    .await;
    let started = rec.start(channel, false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late_before = late_audio_ms(&rec, &sid).await;
    let crashed_at = started.at.elapsed().as_secs_f64() * 1000.0;
    rec.drill(&sid, kind).await;
    let session = wait_rejoined(&rec, &sid).await;
    let history: Vec<String> = session["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        history.contains(&"page lost".to_owned()) && history.contains(&"rejoined".to_owned()),
        "{history:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = late_audio_ms(&rec, &sid).await - late_before;
    let stop_sent = Instant::now();
    let (_, body) = rec.stop(json!({"sid": sid})).await;
    let stop_answered = Instant::now();
    let wav = rec.wav(body["filename"].as_str().unwrap());

    // One file, as long as the session: the gap is filled, not dropped.
    started.assert_lasts_as_long(wav.duration_ms(), stop_sent, stop_answered, kind);
    let segments = wav.tone_segments(440.0);
    assert_eq!(
        segments.len(),
        2,
        "tone before and after the crash: {segments:?}"
    );
    assert!(
        (segments[0].1 - crashed_at).abs() < 300.0,
        "audio until the crash at {crashed_at}: {segments:?}"
    );
    let gap = (segments[0].1, segments[1].0);
    assert!(
        wav.rms(gap.0 + 30.0, gap.1 - gap.0 - 60.0) < 100.0,
        "the gap {gap:?} is silence"
    );
    assert!(
        segments[1].1 >= wav.duration_ms() - 20.0,
        "audio to the end after rejoining: {segments:?}"
    );
    // No silence after the rejoin that the recorder did not report as late audio (a fresh
    // browser on a loaded box can deliver its first chunks late; 10 ms windows, one of slack).
    let dropouts = wav.dropouts(segments[1].0 + 50.0, segments[1].1 - 50.0);
    assert!(
        dropouts.len() as u64 * 10 <= late + 10,
        "dropouts at {dropouts:?} with {late} ms of late audio reported"
    );
    assert_eq!(body["stopReason"], "requested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_tab_is_reopened_and_the_recording_goes_on_in_the_same_file() {
    crash_and_check("crash-tab", "g1_crash_tab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_is_restarted_and_its_sessions_rejoin() {
    crash_and_check("kill-browser", "g1_crash_browser").await;
}
