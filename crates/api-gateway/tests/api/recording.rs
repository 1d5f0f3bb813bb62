//! `/api/recording/*` through the gateway to a real recorder (headless Chromium, the Agora
//! stand-in), and what clients see when the recorder is down, slow or broken.

use std::time::Duration;

use memharbor_testkit::{Options, everywhere, spawn, tone};
use serde_json::{Value, json};

use crate::helpers::{black_hole, canned, closed_port, error_of, spawn_app_with};
use crate::openapi::{check_against_document, served_document};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_recorded_through_the_gateway_and_downloaded_with_range() {
    let recorder = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
        ..Options::default()
    })
    .await;
    let app = spawn_app_with(|s| {
        s.recorder.url = recorder.url.clone();
        s.secret_key = secrecy::SecretString::from(memharbor_testkit::SECRET.to_owned());
    })
    .await;
    let doc = served_document(&app).await;
    let check = |path: &str, method: &str, status: u16, body: &Value| {
        check_against_document(&doc, path, method, status, body)
    };

    let r = app
        .post_json(
            "/api/recording/start",
            &json!({"channel": "group1_alice_bob"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    check("/api/recording/start", "post", 200, &started);
    assert_eq!(
        (started["uid"].as_u64(), started["existing"].as_bool()),
        (Some(999_999), Some(false))
    );
    let sid = started["sid"].as_str().unwrap().to_owned();
    let again: Value = app
        .post_json(
            "/api/recording/start",
            &json!({"channel": "group1_alice_bob", "speakers": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["sid"].as_str(), again["existing"].as_bool()),
        (Some(sid.as_str()), Some(true))
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status: Value = app
        .http
        .get(format!("{}/api/recording/status", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check("/api/recording/status", "get", 200, &status);
    assert_eq!(status["count"], 1);
    assert_eq!(status["sessions"][0]["participants"], json!([1001]));
    let live: Value = app
        .http
        .get(format!("{}/api/recording/{sid}", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check("/api/recording/{sid}", "get", 200, &live);
    assert_eq!(live["status"], "recording");

    let r = app
        .post_json("/api/recording/stop", &json!({"sid": sid}))
        .await;
    assert_eq!(r.status(), 200);
    let stopped: Value = r.json().await.unwrap();
    check("/api/recording/stop", "post", 200, &stopped);
    let again: Value = app
        .post_json(
            "/api/recording/stop",
            &json!({"channel": "group1_alice_bob"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, stopped);
    let done: Value = app
        .http
        .get(format!("{}/api/recording/{sid}", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done, stopped);

    let list: Value = app
        .http
        .get(format!(
            "{}/api/recording/list?groupId=group1&limit=10",
            app.address
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check("/api/recording/list", "get", 200, &list);
    assert_eq!(list["recordings"][0]["id"], sid.as_str());
    let url = format!(
        "{}{}",
        app.address,
        stopped["local"]["url"].as_str().unwrap()
    );
    let whole = app.http.get(&url).send().await.unwrap();
    assert_eq!(
        (
            whole.status().as_u16(),
            whole.headers()["content-type"].to_str().unwrap()
        ),
        (200, "audio/wav")
    );
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, stopped["fileSize"].as_u64().unwrap());
    assert_eq!(&bytes[..4], b"RIFF");
    let part = app
        .http
        .get(&url)
        .header("range", "bytes=44-99")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 44-99/{}", bytes.len())
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &bytes[44..100]);

    for (path, code) in [
        ("/api/recording/files/nope.wav", "recording_not_found"),
        (
            "/api/recording/files/..%2F.memharbor",
            "recording_not_found",
        ),
        (
            "/api/recording/00000000-0000-0000-0000-000000000000",
            "session_not_found",
        ),
        ("/api/recording/not-a-sid", "session_not_found"),
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(error_of(r).await.0, code, "{path}");
    }
    let r = app
        .post_json(
            "/api/recording/stop",
            &json!({"sid": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(
        (r.status().as_u16(), error_of(r).await.0.as_str()),
        (404, "session_not_found")
    );

    // The original's request log: one entry per request, tagged.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(app.log_dir.path().join("api.log")).unwrap();
    for tag in [
        "[START] POST from",
        "[STOP] POST from",
        "[STATUS] GET from",
        "[LIST] GET from",
        "[FILE] GET from",
    ] {
        assert!(log.contains(tag), "{tag} missing in\n{log}");
    }
    assert!(log.contains("[STOP] Failed: session_not_found"), "{log}");
}

#[tokio::test]
async fn invalid_recording_requests_are_refused_before_the_recorder_is_asked() {
    // The recorder is down: a 4xx proves the gateway answered by itself.
    let app =
        spawn_app_with(|s| s.recorder.url = format!("http://127.0.0.1:{}", closed_port())).await;
    let cases = [
        (json!({}), "missing_field"),
        (json!({"channel": "group1_alice"}), "invalid_channel"),
        (
            json!({"channel": "group1_alice_bob_carol"}),
            "invalid_channel",
        ),
        (json!({"channel": "g_._b"}), "invalid_channel"),
        (json!({"channel": "g_a b_c"}), "invalid_channel"),
        (
            json!({"channel": "group1_alice_bob", "speakers": "yes"}),
            "invalid_speakers",
        ),
    ];
    for (body, code) in cases {
        let r = app.post_json("/api/recording/start", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(error_of(r).await.0, code, "{body}");
    }
    for (body, code) in [
        (json!({}), "missing_field"),
        (json!({"sid": 5}), "invalid_sid"),
        (json!({"sid": "a", "channel": "b"}), "conflicting_fields"),
    ] {
        let r = app.post_json("/api/recording/stop", &body).await;
        assert_eq!(
            (r.status().as_u16(), error_of(r).await.0),
            (400, code.to_owned()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_recorder_that_is_down_slow_or_broken_becomes_503_504_or_502() {
    let down = format!("http://127.0.0.1:{}", closed_port());
    let garbage = canned(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    );
    let crashing = canned(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops",
    );
    for (upstream, status, code) in [
        (down, 503, "recorder_unavailable"),
        (black_hole(), 504, "recorder_timeout"),
        (garbage, 502, "recorder_error"),
        (crashing, 502, "recorder_error"),
    ] {
        let app = spawn_app_with(|s| {
            s.recorder.url = upstream.clone();
            s.recorder.timeout = Duration::from_secs(1);
        })
        .await;
        let doc = served_document(&app).await;
        let requests: [(&str, &str, Option<Value>); 6] = [
            (
                "post",
                "/api/recording/start",
                Some(json!({"channel": "group1_alice_bob"})),
            ),
            (
                "post",
                "/api/recording/stop",
                Some(json!({"channel": "group1_alice_bob"})),
            ),
            ("get", "/api/recording/status", None),
            ("get", "/api/recording/list", None),
            ("get", "/api/recording/{sid}", None),
            ("get", "/api/recording/files/{filename}", None),
        ];
        for (method, path, body) in requests {
            let url = format!(
                "{}{}",
                app.address,
                path.replace("{sid}", "11111111-1111-1111-1111-111111111111")
                    .replace("{filename}", "a_b_c.wav")
            );
            let mut request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{method} {path} with {code}");
            if status == 503 {
                assert!(r.headers().contains_key("retry-after"));
            }
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{method} {path}");
            check_against_document(&doc, path, method, status, &body);
        }
        let health: Value = app
            .http
            .get(format!("{}/api/health", app.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_renews_its_token_through_the_gateway_when_agora_says_it_will_expire() {
    let gateway_port = closed_port();
    let scenario = json!({"channels": {"*": {
        "participants": [tone(1001, 440, 100, 60_000)],
        "events": [{"at": 1500, "type": "token-privilege-will-expire"}],
    }}});
    let recorder = spawn(Options {
        scenario,
        gateway_url: format!("http://127.0.0.1:{gateway_port}"),
        ..Options::default()
    })
    .await;
    let app = spawn_app_with(|s| {
        s.http_addr = format!("127.0.0.1:{gateway_port}").parse().unwrap();
        s.recorder.url = recorder.url.clone();
        s.secret_key = secrecy::SecretString::from(memharbor_testkit::SECRET.to_owned());
    })
    .await;
    let started: Value = app
        .post_json(
            "/api/recording/start",
            &json!({"channel": "group1_renew_me"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sid = started["sid"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status: Value = reqwest::get(format!("{}/status", recorder.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events: Vec<String> = status["sessions"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect();
        if events.contains(&"token renewed".to_owned()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = app
        .post_json("/api/recording/stop", &json!({"sid": sid}))
        .await;
    assert_eq!(r.status(), 200);
    // The internal route is for the recorder only.
    let r = app
        .post_json(
            "/internal/bot-token",
            &json!({"channel": "group1_renew_me"}),
        )
        .await;
    assert_eq!(r.status(), 401);
}
