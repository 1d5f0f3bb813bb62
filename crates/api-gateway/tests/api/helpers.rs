//! `spawn_app()`: the real gateway on a free port with per-test settings and log folder.

use std::time::Duration;

use agora_token::{AppCertificate, AppId, Version};
use api_gateway::settings::{AgoraSettings, RecorderSettings, Settings, TelemetrySettings};
use api_gateway::startup::Application;
use secrecy::SecretString;
use tempfile::TempDir;

pub const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
pub const APP_CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub log_dir: TempDir,
}

/// Settings for one test: port 0, a fresh log folder, a recorder URL nobody listens on.
pub fn test_settings(log_dir: &TempDir) -> Settings {
    Settings {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        workers: Some(2),
        agora: AgoraSettings {
            app_id: AppId::new(APP_ID).unwrap(),
            app_cert: AppCertificate::new(APP_CERT).unwrap(),
            token_version: Version::V006,
        },
        api_keys: Vec::new(),
        auth: api_gateway::settings::AuthSettings::default(),
        secret_key: SecretString::from(memharbor_testkit::SECRET.to_owned()),
        log_dir: log_dir.path().to_owned(),
        log_rotation: api_gateway::middleware::api_log::Rotation::default(),
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        recorder: RecorderSettings {
            url: format!("http://127.0.0.1:{}", closed_port()),
            uid: 999_999,
            max_duration_s: 14_400,
            timeout: std::time::Duration::from_secs(60),
        },
        cluster: None,
        telemetry: TelemetrySettings::default(),
    }
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let log_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&log_dir);
    customise(&mut settings);
    let app = Application::build(settings).await.expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        http: reqwest::Client::builder()
            // Above the recorder's join timeout in tests (20 s): a start waits for its bot to
            // join, and the first Chromium of a fresh box takes seconds to start on 2 busy cores.
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        log_dir,
    }
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_token(&self, body: serde_json::Value) -> reqwest::Response {
        self.post_json("/api/token", &body).await
    }
}

/// Reads a JSON error body and returns (code, field).
pub async fn error_of(response: reqwest::Response) -> (String, Option<String>, String) {
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    let error = &body["error"];
    (
        error["code"].as_str().expect("code").to_owned(),
        error["field"].as_str().map(str::to_owned),
        error["message"].as_str().expect("message").to_owned(),
    )
}

pub use memharbor_testkit::{black_hole, canned};
