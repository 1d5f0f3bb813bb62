//! Ten concurrent sessions on one box, each with its own participant: every file clean. Starts are
//! 400 ms apart, as calls start in life.
//!
//! This is the load at which recording through WebAudio went wrong: its WebRTC bridge zero-filled
//! an occasional 10 ms block (two cores running ten sessions and their ten stand-in senders deliver
//! frames late now and then), and its clock lost 10 ms steps, so a voice drifted off the wall
//! clock and files ended in silence. The page now mixes on the wall clock with a cushion for late
//! frames (web/recorder/capture.js): no silent block is allowed that the recorder did not report as
//! late audio, the voice must last to the file's end, and the page must hardly have had to play
//! silence while waiting (`lateAudioMs`, at most one hiccup, see below). 20 s is long enough for the old clock to have lost two steps.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Options, spawn, tone};

/// Late audio one session may have (see below).
const LATE_AUDIO_ALLOWED_MS: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_sessions_are_all_clean() {
    let channels: Vec<String> = (0..10).map(|i| format!("load_user{i}_other{i}")).collect();
    let freqs: Vec<u32> = (0..10).map(|i| 300 + i * 100).collect();
    let mut scenario = serde_json::Map::new();
    for (channel, freq) in channels.iter().zip(&freqs) {
        scenario.insert(
            channel.clone(),
            json!({"participants": [tone(3000 + freq, *freq, 0, 600_000)]}),
        );
    }
    let rec = spawn(Options {
        scenario: json!({"channels": scenario}),
        ..Options::default()
    })
    .await;
    let starts = futures_util::future::join_all(channels.iter().enumerate().map(|(i, c)| {
        let rec = &rec;
        async move {
            tokio::time::sleep(Duration::from_millis(400 * i as u64)).await;
            rec.start(c, false).await
        }
    }))
    .await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    // Nothing lost: no chunk missing, late or malformed in any session. Late audio (frames later
    // than the cushion, heard that much later, never dropped) is allowed once per session at most
    // for a fifth of a second: here the stand-in's ten senders share the two cores with the
    // recorder and its pages (in a real call Agora's servers send), and on a slow hour one
    // hiccup of ~120 ms was seen once in several runs. More than that fails.
    let (_, status) = rec.get("/status").await;
    let mut late_ms = std::collections::HashMap::new();
    let mut subscribed_ms = std::collections::HashMap::new();
    for session in status["sessions"].as_array().unwrap() {
        for counter in ["missingChunks", "lateChunks", "badChunks"] {
            assert_eq!(
                session["audio"][counter], 0,
                "{}: {counter} in {}",
                session["channel"], session["audio"]
            );
        }
        let late = session["audio"]["lateAudioMs"].as_u64().unwrap();
        let channel = session["channel"].as_str().unwrap().to_owned();
        late_ms.insert(channel.clone(), late);
        subscribed_ms.insert(channel, subscribed_after_start(session));
        assert!(
            late <= LATE_AUDIO_ALLOWED_MS,
            "{}: lateAudioMs in {}",
            session["channel"],
            session["audio"]
        );
    }
    let stops = futures_util::future::join_all(starts.iter().map(|s| async {
        let sent = Instant::now();
        let (status, body) = rec.stop(json!({"sid": s.body["sid"]})).await;
        (status, body, sent, Instant::now())
    }))
    .await;
    for (((status, body, stop_sent, stop_answered), freq), started) in
        stops.into_iter().zip(&freqs).zip(&starts)
    {
        assert_eq!(status, 200, "{body}");
        let wav = rec.wav(body["filename"].as_str().unwrap());
        started.assert_lasts_as_long(
            wav.duration_ms(),
            stop_sent,
            stop_answered,
            &body["channel"].to_string(),
        );
        let segments = wav.tone_segments(f64::from(*freq));
        // One tone from the start to the end; a hole inside it (several runs) is judged below
        // against the late audio the recorder reported.
        assert!(!segments.is_empty(), "{}: no tone", body["channel"]);
        let (from, to) = (segments[0].0, segments[segments.len() - 1].1);
        // The voice is in the file from just after the bot subscribed to it (which, with ten
        // bots joining on two cores, is up to a few hundred ms into the file) to its end.
        let subscribed = subscribed_ms[body["channel"].as_str().unwrap()];
        assert!(
            subscribed < 2500.0 && from < subscribed + 500.0 && to >= wav.duration_ms() - 20.0,
            "{}: subscribed at {subscribed} ms, tone {segments:?}",
            body["channel"]
        );
        // No silence the recorder did not report: whatever is silent in the file is the late
        // audio its counters owned up to (10 ms windows; one window of slack for alignment).
        let dropouts = wav.dropouts(from + 50.0, to - 50.0);
        let late = late_ms
            .get(body["channel"].as_str().unwrap())
            .copied()
            .unwrap_or(0);
        assert!(
            dropouts.len() as u64 * 10 <= late + 10,
            "{}: dropouts at {dropouts:?} with {late} ms of late audio reported",
            body["channel"]
        );
        // Only its own participant.
        let other = if *freq == 300 {
            400.0
        } else {
            f64::from(*freq) - 100.0
        };
        assert!(
            wav.tone_level(other, from + 100.0, 1000.0) < 300.0,
            "{} hears another session",
            body["channel"]
        );
    }
}

/// When the session's bot subscribed to its participant, in ms from the recording's start.
fn subscribed_after_start(session: &serde_json::Value) -> f64 {
    let at = |text: &serde_json::Value| {
        time::OffsetDateTime::parse(
            text.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let subscribed = session["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "subscribed")
        .unwrap_or_else(|| panic!("never subscribed: {session}"));
    (at(&subscribed["at"]) - at(&session["startedAt"])).as_seconds_f64() * 1000.0
}
