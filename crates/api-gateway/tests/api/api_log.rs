//! The original's request log, `logs/api.log`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::spawn_app;

async fn read_log_until(dir: &std::path::Path, needle: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(dir.join("api.log")).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{needle:?} never appeared in api.log");
}

#[tokio::test]
async fn token_requests_are_logged_like_the_original() {
    let app = spawn_app().await;
    app.http
        .post(format!("{}/api/token", app.address))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"channel": "group1_alice_bob", "uid": 12345}))
        .send()
        .await
        .unwrap();
    let log = read_log_until(app.log_dir.path(), "Success").await;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    let stamp = |line: &str| line[..21].to_owned();
    for line in &lines {
        assert!(
            line.starts_with("[20") && line.as_bytes()[20] == b']',
            "{line}"
        );
    }
    assert_eq!(&lines[0][21..], " INFO api [TOKEN] POST from 203.0.113.7");
    assert_eq!(
        &lines[1][21..],
        r#" INFO api [TOKEN] Request data: {"channel":"group1_alice_bob","uid":12345}"#
    );
    assert_eq!(
        &lines[2][21..],
        " INFO api [TOKEN] Success: channel=group1_alice_bob, uid=12345, role=subscriber, expire_in=86400"
    );
    let _ = stamp(lines[0]);
}

#[tokio::test]
async fn failures_are_logged_as_warnings_with_their_code_and_no_forged_lines() {
    let app = spawn_app().await;
    app.http
        .post(format!("{}/api/token", app.address))
        .header("content-type", "application/json")
        .body("{\"channel\": \"x\nINFO api [TOKEN] Success: forged\"}")
        .send()
        .await
        .unwrap();
    let log = read_log_until(app.log_dir.path(), "Failed").await;
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(
        log.contains(r#"Request data: {"channel": "x\nINFO api"#),
        "{log}"
    );
    assert!(
        log.lines()
            .nth(2)
            .unwrap()
            .contains("WARNING api [TOKEN] Failed: invalid_json"),
        "{log}"
    );
}
