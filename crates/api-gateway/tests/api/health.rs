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
    let recorder = recorder_svc::startup::Application::build(recorder_svc::settings::Settings {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        debug: false,
    })
    .await
    .unwrap();
    let url = format!("http://127.0.0.1:{}", recorder.port());
    tokio::spawn(recorder.run_until_stopped());
    let app = spawn_app_with(|s| s.recorder.url = url).await;
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
