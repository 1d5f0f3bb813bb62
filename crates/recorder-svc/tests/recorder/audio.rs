//! What ends up in the WAV: format, length, content, timing, per-speaker files.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::wav::{TONE_THRESHOLD, best_lag};
use crate::helpers::{Options, everywhere, metric, spawn, tone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_give_an_exact_16k_mono_wav_with_both_voices_and_no_dropout() {
    let rec = spawn(Options {
        scenario: everywhere(vec![
            tone(1001, 440, 300, 60_000),
            tone(1002, 660, 300, 60_000),
        ]),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_alice_bob", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    assert_eq!(started.body["status"], "recording");
    assert_eq!(started.body["uid"], 999_999);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stop_sent = Instant::now();
    let (status, body) = rec.stop(json!({"sid": sid})).await;
    let stop_answered = Instant::now();
    assert_eq!(status, 200, "{body}");

    let wav = rec.wav(body["filename"].as_str().unwrap());
    assert_eq!(
        (
            wav.spec.sample_rate,
            wav.spec.channels,
            wav.spec.bits_per_sample
        ),
        (16_000, 1, 16)
    );
    assert_eq!(wav.spec.sample_format, hound::SampleFormat::Int);
    // duration = samples / 16, and the file is the session's wall time.
    assert_eq!(
        body["duration"].as_u64().unwrap(),
        wav.samples.len() as u64 / 16
    );
    assert_eq!(
        body["fileSize"].as_u64().unwrap(),
        44 + wav.samples.len() as u64 * 2
    );
    started.assert_lasts_as_long(wav.duration_ms(), stop_sent, stop_answered, "the mix");

    let end = wav.duration_ms();
    for freq in [440.0, 660.0] {
        let segments = wav.tone_segments(freq);
        assert_eq!(segments.len(), 1, "{freq} Hz: {segments:?}");
        assert!(
            segments[0].0 <= 450.0 && segments[0].1 >= end - 20.0,
            "{freq} Hz: {segments:?}"
        );
    }
    let dropouts = wav.dropouts(500.0, end - 50.0);
    assert!(
        dropouts.is_empty(),
        "silent 10 ms windows inside the tones at {dropouts:?}"
    );
    assert_eq!(body["stopReason"], "requested");
    assert!(body["firebase"].is_null());
    assert_eq!(
        body["local"]["url"],
        format!(
            "/api/recording/files/{}",
            body["filename"].as_str().unwrap()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_start_and_stop_where_they_should_and_the_silence_between_is_kept() {
    let leaver = json!({"uid": 1001, "joinAt": 0, "publishAt": 0, "leaveAt": 4000,
        "speech": [{"from": 500, "to": 3500}], "audio": {"type": "tone", "frequency": 440, "gain": 0.3}});
    let joiner = json!({"uid": 1002, "joinAt": 5000, "publishAt": 5100,
        "speech": [{"from": 6000, "to": 9000}], "audio": {"type": "tone", "frequency": 660, "gain": 0.3}});
    let rec = spawn(Options {
        scenario: everywhere(vec![leaver, joiner]),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_carol_dave", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_, status) = rec.get("/internal/sessions").await;
    assert_eq!(
        status["sessions"][0]["participants"],
        json!([1001]),
        "{status}"
    );
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let (_, status) = rec.get("/internal/sessions").await;
    assert_eq!(
        status["sessions"][0]["participants"],
        json!([1002]),
        "{status}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = rec.stop(json!({"sid": sid})).await;
    let wav = rec.wav(body["filename"].as_str().unwrap());

    let a = wav.tone_segments(440.0);
    let b = wav.tone_segments(660.0);
    assert_eq!((a.len(), b.len()), (1, 1), "440: {a:?} 660: {b:?}");
    let near = |got: f64, want: f64| (got - want).abs() <= 100.0;
    assert!(
        near(a[0].0, 500.0) && near(a[0].1, 3500.0),
        "440 Hz at {a:?}, expected 500–3500 ms"
    );
    assert!(
        near(b[0].0, 6000.0) && near(b[0].1, 9000.0),
        "660 Hz at {b:?}, expected 6000–9000 ms"
    );
    // The silence between them is in the file, not cut.
    assert!(wav.rms(3700.0, 2100.0) < 100.0);
    assert!(wav.duration_ms() > 9900.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_speaker_files_line_up_with_the_mix() {
    let a = tone(2001, 440, 500, 6000);
    let b = json!({"uid": 2002, "joinAt": 1000, "publishAt": 1000, "speech": [{"from": 2000, "to": 8000}],
        "audio": {"type": "tone", "frequency": 660, "gain": 0.3}});
    let rec = spawn(Options {
        scenario: everywhere(vec![a, b]),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_erin_frank", true).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (_, body) = rec.stop(json!({"sid": sid})).await;

    let mix = rec.wav(body["filename"].as_str().unwrap());
    let speakers = body["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 2, "{body}");
    let stem = body["filename"].as_str().unwrap().trim_end_matches(".wav");
    for (speaker, uid, freq, other) in [
        (&speakers[0], 2001, 440.0, 660.0),
        (&speakers[1], 2002, 660.0, 440.0),
    ] {
        assert_eq!(speaker["uid"], uid);
        assert_eq!(speaker["filename"], format!("{stem}_{uid}.wav"));
        let file = rec.wav(speaker["filename"].as_str().unwrap());
        assert_eq!(
            speaker["duration"].as_u64().unwrap(),
            file.samples.len() as u64 / 16
        );
        // Same timeline as the mix: same length, and aligned to the sample.
        assert!(
            (file.samples.len() as i64 - mix.samples.len() as i64).abs() <= 1,
            "{} vs {}",
            file.samples.len(),
            mix.samples.len()
        );
        let (from, to) = file.tone_segments(freq)[0];
        let lag = best_lag(
            &mix.samples[(from * 16.0) as usize..(to * 16.0) as usize],
            &file.samples[(from * 16.0) as usize..(to * 16.0) as usize],
            8,
        );
        assert!(lag.abs() <= 1, "speaker {uid} is {lag} samples off the mix");
        // Only its own voice.
        assert!(file.tone_level(other, from + 100.0, 1000.0) < TONE_THRESHOLD / 5.0);
        assert!(
            speaker["local"]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("_{uid}.wav"))
        );
    }
    // The late joiner's file is silence until it joined.
    let b_file = rec.wav(speakers[1]["filename"].as_str().unwrap());
    assert!(b_file.rms(0.0, 900.0) < 50.0);
}

/// The capture worker stalls for 300 ms (a drill, as on an overloaded box), longer than its 80 ms
/// cushion: the page plays silence for what did not arrive in time, reports it as late audio, and
/// plays those frames afterwards. Every silence inside the voice is accounted for and the voice
/// goes on to the end: nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_frames_are_reported_and_played_later_never_dropped() {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 300, 60_000)]),
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_late_alice", false).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rec.drill(&sid, "stall-capture").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, status) = rec.get("/status").await;
    let audio = &status["sessions"][0]["audio"];
    let late_ms = audio["lateAudioMs"].as_u64().unwrap();
    // Stalled 300 ms with an 80 ms cushion.
    assert!((150..=400).contains(&late_ms), "{audio}");

    let (status, body) = rec.stop(json!({"sid": sid})).await;
    assert_eq!(status, 200, "{body}");
    let metrics = rec.metrics().await;
    let counted_ms =
        metric(&metrics, "memharbor_recorder_audio_late_frames_total ").unwrap() as u64 / 48;
    assert!(
        counted_ms >= late_ms,
        "{counted_ms} ms counted, {late_ms} ms in /status"
    );
    let wav = rec.wav(body["filename"].as_str().unwrap());
    let end = wav.duration_ms();
    let segments = wav.tone_segments(440.0);
    // The voice resumes after the silence and lasts to the end.
    assert!(segments.len() <= 2, "{segments:?}");
    assert!(segments.last().unwrap().1 >= end - 20.0, "{segments:?}");
    // Whole 10 ms windows of silence inside the voice: never more than the late audio reported.
    let silent_ms = wav.dropouts(segments[0].0 + 20.0, end - 20.0).len() as u64 * 10;
    assert!(
        silent_ms > 0 && silent_ms <= counted_ms + 10,
        "{silent_ms} ms silent inside the voice, {counted_ms} ms reported late"
    );
}

/// Callers mode (the load benchmark's honest setting): both participants are sent from a browser
/// of their own through the test kit's signalling relay, as Agora's servers would send them. The
/// recorder hears them as in-page senders: each voice where the script puts it on the wall clock,
/// each speaker's file on the mix's timeline with its own voice only, and every link closed when
/// the session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_sent_from_another_browser_are_recorded_like_any_other() {
    let callers = crate::helpers::callers::Callers::start().await;
    let a = tone(3001, 440, 500, 4500);
    let b = json!({"uid": 3002, "joinAt": 0, "publishAt": 0, "speech": [{"from": 4000, "to": 8000}],
        "audio": {"type": "tone", "frequency": 660, "gain": 0.3}});
    let mut scenario = everywhere(vec![a, b]);
    scenario["callers"] = callers.scenario();
    let rec = spawn(Options {
        scenario,
        ..Options::default()
    })
    .await;
    let started = rec.start("g1_gina_hank", true).await;
    let sid = started.body["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (_, body) = rec.stop(json!({"sid": sid})).await;

    let mix = rec.wav(body["filename"].as_str().unwrap());
    let (a_runs, b_runs) = (mix.tone_segments(440.0), mix.tone_segments(660.0));
    assert_eq!(
        (a_runs.len(), b_runs.len()),
        (1, 1),
        "{a_runs:?} {b_runs:?}"
    );
    // Both voices lag the script by the same link latency; they overlap by 500 ms as scripted.
    let (lag_a, lag_b) = (a_runs[0].0 - 500.0, b_runs[0].0 - 4000.0);
    assert!(
        (-100.0..=600.0).contains(&lag_a) && (lag_a - lag_b).abs() <= 60.0,
        "{a_runs:?} {b_runs:?}"
    );
    assert!(
        (a_runs[0].1 - a_runs[0].0 - 4000.0).abs() <= 60.0,
        "{a_runs:?}"
    );
    assert!(
        mix.dropouts(a_runs[0].0 + 50.0, b_runs[0].1 - 50.0)
            .is_empty()
    );
    let speakers = body["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 2, "{body}");
    for (speaker, uid, other) in [(&speakers[0], 3001, 660.0), (&speakers[1], 3002, 440.0)] {
        assert_eq!(speaker["uid"], uid);
        let file = rec.wav(speaker["filename"].as_str().unwrap());
        assert!(file.samples.len().abs_diff(mix.samples.len()) <= 1);
        assert!(file.tone_segments(other).is_empty(), "speaker {uid}");
    }
    // The recorder's page closed both links when it left the channel.
    let deadline = Instant::now() + Duration::from_secs(5);
    while callers.links() != (2, 0) {
        assert!(Instant::now() < deadline, "links {:?}", callers.links());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
