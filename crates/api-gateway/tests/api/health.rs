use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_reports_an_unreachable_recorder_without_failing() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/api/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "recorder": "unreachable"})
    );
}

#[tokio::test]
async fn health_reports_a_running_recorder() {
    let recorder = memharbor_testkit::spawn(memharbor_testkit::Options::default()).await;
    let app = spawn_app_with(|s| s.recorder.url = recorder.url.clone()).await;
    let body: serde_json::Value = app
        .http
        .get(format!("{}/api/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["recorder"], "ok");
}

#[tokio::test]
async fn a_recorder_with_another_secret_is_a_named_502_never_a_401() {
    let recorder = memharbor_testkit::spawn(memharbor_testkit::Options::default()).await;
    let app = spawn_app_with(|s| {
        s.recorder.url = recorder.url.clone();
        s.secret_key =
            secrecy::SecretString::from("another-secret-than-the-recorder-has-0123".to_owned());
    })
    .await;
    let body: serde_json::Value = app
        .http
        .get(format!("{}/api/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["recorder"], "unreachable", "{body}");
    assert!(
        body["recorderProblem"]
            .as_str()
            .unwrap()
            .contains("MEMHARBOR_SECRET_KEY"),
        "{body}"
    );
    let r = app
        .http
        .get(format!("{}/api/recording/status", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let (code, _, _) = crate::helpers::error_of(r).await;
    assert_eq!(code, "recorder_auth_failed");
}
