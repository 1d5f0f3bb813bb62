//! What operators look at: `/metrics` (Prometheus) and the ops page (`/status` in a browser),
//! checked with real headless Chromium: its DOM and its screenshot show a running session.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{Options, everywhere, metric, spawn, tone};

/// Pixels of the ops page's level-bar green (#2e7d32) in a PNG screenshot.
fn meter_pixels(png_path: &std::path::Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            p.len() >= 3
                && p[0].abs_diff(0x2e) <= 8
                && p[1].abs_diff(0x7d) <= 8
                && p[2].abs_diff(0x32) <= 8
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_the_ops_page_show_a_running_session() {
    let rec = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 0, 600_000)]),
        ..Options::default()
    })
    .await;
    let started = rec.start("ops_ann_ben", false).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let text = rec.metrics().await;
    assert_eq!(
        metric(&text, "memharbor_recorder_sessions_active "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"memharbor_recorder_session_starts_total{outcome="ok"} "#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "memharbor_recorder_browsers_launched_total "),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "memharbor_recorder_audio_chunks_missing_total "),
        Some(0.0)
    );
    assert!(
        text.contains(
            r#"memharbor_recorder_http_requests_total{route="/internal/sessions",method="POST",status="200"} 1"#
        ),
        "{text}"
    );

    // The ops page, as a browser sees it: headless Chromium, screenshot and DOM.
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("ops.png");
    let chromium = recorder_svc::settings::find_chromium().unwrap();
    let base = [
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--hide-scrollbars".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--window-size=1280,800".into(),
        "--virtual-time-budget=4000".into(),
        format!("--user-data-dir={}", dir.path().join("profile").display()),
    ];
    let url = format!("{}/status", rec.url);
    let dom = Command::new(&chromium)
        .args(&base)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for needle in ["ops_ann_ben", "recording", "1001", "1 / 12 sessions"] {
        assert!(
            dom.contains(needle),
            "{needle:?} not on the ops page:\n{dom}"
        );
    }
    let out = Command::new(&chromium)
        .args(&base)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let green = meter_pixels(&shot);
    assert!(
        green > 300,
        "the speaking participant's level meter is not drawn ({green} green pixels)"
    );
    // Without Accept: text/html the same route answers JSON.
    let (_, status) = rec.get("/status").await;
    assert_eq!(status["sessions"][0]["channel"], "ops_ann_ben");
    assert!(
        status["sessions"][0]["levels"]["1001"].as_f64().unwrap() > 0.05,
        "{}",
        status["sessions"][0]["levels"]
    );

    let (code, _) = rec.stop(json!({"sid": started.body["sid"]})).await;
    assert_eq!(code, 200);
    let text = rec.metrics().await;
    assert_eq!(
        metric(&text, "memharbor_recorder_sessions_active "),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"memharbor_recorder_session_stops_total{stop_reason="requested"} "#
        ),
        Some(1.0)
    );
    assert!(text.trim_end().ends_with("# EOF"));
}
