//! Test support, dev-only: the real recorder (in-process on port 0) with the Agora stand-in as its
//! SDK and a scripted scenario, a client for its internal API, WAV analysis (`wav`), and callers
//! mode (`callers`: participants sent from a browser of their own). Used by both services'
//! integration tests; nothing here is a mock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)] // test support fails loudly

pub mod callers;
pub mod emulators;
pub mod proxy;
pub mod wav;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use recorder_svc::settings::{Settings, find_chromium};
use recorder_svc::startup::Application;
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
/// A token the stand-in accepts for APP_ID (it checks the 006 prefix and the App ID).
pub const TOKEN: &str = "006970CA35de60c44645bbae8a215061b33IAAtesttoken";
pub const BOT_UID: u32 = 999_999;
pub const SECRET: &str = "memharbor-test-secret-0123456789abcdef";

/// Switches the stand-in needs: loopback WebRTC and media permission (tests only).
pub const STANDIN_ARGS: &[&str] = &[
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
];

/// The stand-in's source.
pub fn standin_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../recorder-svc/tests/standin/agora-standin.js")
}

/// The real SDK, fetched by `make` into the workspace's `vendor/`.
pub fn real_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vendor/agora-rtc-sdk-ng-4.24.8/AgoraRTC_N-production.js")
}

/// Writes an SDK file: the stand-in configured with `scenario`.
pub fn standin_sdk(dir: &Path, scenario: &Value) -> PathBuf {
    let mut text = std::fs::read_to_string(standin_path()).expect("stand-in present");
    text.push_str(&format!("\nAgoraRTC.__standin.configure({scenario});\n"));
    let path = dir.join("agora-sdk.js");
    std::fs::write(&path, text).unwrap();
    path
}

/// A participant who publishes at join and speaks `from..to` ms with a tone.
pub fn tone(uid: u32, freq: u32, from: u64, to: u64) -> Value {
    json!({"uid": uid, "joinAt": 0, "publishAt": 0, "speech": [{"from": from, "to": to}],
           "audio": {"type": "tone", "frequency": freq, "gain": 0.3}})
}

/// A scenario where every channel has `participants`.
pub fn everywhere(participants: Vec<Value>) -> Value {
    json!({"channels": {"*": {"participants": participants}}})
}

pub fn internal_key() -> String {
    memharbor_shared::internal_auth::derive_key(SECRET)
}

pub struct Options {
    pub scenario: Value,
    pub sdk: Option<PathBuf>,
    pub extra_args: Vec<String>,
    pub idle_timeout: Duration,
    pub max_duration: Duration,
    pub join_timeout: Duration,
    pub max_sessions: usize,
    /// `RECORDER_AUDIO_CUSHION_MS`.
    pub audio_cushion_ms: u32,
    /// `RECORDER_CHROMIUM`: the first one found in the usual places if `None`.
    pub chromium: Option<PathBuf>,
    pub recordings_dir: Option<PathBuf>,
    /// Where the recorder asks for fresh bot tokens.
    pub gateway_url: String,
    /// Firebase (emulators) instead of local storage.
    pub firebase: Option<recorder_svc::settings::FirebaseSettings>,
    /// `RECORDER_MIN_FREE_MB`.
    pub min_free_mb: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scenario: everywhere(vec![]),
            sdk: None,
            extra_args: STANDIN_ARGS.iter().map(|s| (*s).to_owned()).collect(),
            idle_timeout: Duration::from_secs(60),
            max_duration: Duration::from_secs(3600),
            join_timeout: Duration::from_secs(20),
            max_sessions: 12,
            audio_cushion_ms: 80,
            chromium: None,
            recordings_dir: None,
            gateway_url: "http://127.0.0.1:9".into(),
            firebase: None,
            min_free_mb: 64,
        }
    }
}

pub struct TestRecorder {
    pub url: String,
    pub http: reqwest::Client,
    pub dir: TempDir,
    pub recordings: PathBuf,
}

pub fn settings(dir: &Path, recordings: &Path, opts: &Options) -> Settings {
    let sdk = opts
        .sdk
        .clone()
        .unwrap_or_else(|| standin_sdk(dir, &opts.scenario));
    Settings {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        page_addr: "127.0.0.1:0".parse().unwrap(),
        debug: false,
        json_logs: false,
        secret_key: SecretString::from(SECRET.to_owned()),
        recordings_dir: recordings.to_owned(),
        chromium: opts
            .chromium
            .clone()
            .or_else(find_chromium)
            .expect("Chromium installed (make test installs it)"),
        chromium_extra_args: opts.extra_args.clone(),
        chromium_sandbox: recorder_svc::browser::SandboxMode::Auto,
        agora_sdk: sdk,
        max_sessions: opts.max_sessions,
        sessions_per_browser: 20,
        idle_timeout: opts.idle_timeout,
        max_duration: opts.max_duration,
        join_timeout: opts.join_timeout,
        audio_cushion_ms: opts.audio_cushion_ms,
        channel_mode: recorder_svc::settings::ChannelMode::Live,
        client_role: recorder_svc::settings::ClientRole::Audience,
        min_free_mb: opts.min_free_mb,
        gateway_url: opts.gateway_url.clone(),
        drills: true,
        firebase: opts.firebase.clone(),
        cluster: None,
        webhooks: None,
    }
}

pub async fn spawn(opts: Options) -> TestRecorder {
    let dir = tempfile::tempdir().unwrap();
    let recordings = opts
        .recordings_dir
        .clone()
        .unwrap_or_else(|| dir.path().join("recordings"));
    let app = Application::build(settings(dir.path(), &recordings, &opts))
        .await
        .expect("recorder builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestRecorder {
        url,
        http: client(),
        dir,
        recordings,
    }
}

pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-memharbor-internal-key", internal_key().parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A response's status and JSON body.
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub struct Started {
    pub body: Value,
    /// When the start request was sent.
    pub sent: Instant,
    /// When the start answer arrived.
    pub at: Instant,
}

impl Started {
    /// Asserts that a file of `file_ms` lasts as long as the session did, as a client can tell:
    /// recording began between the start request and its answer, and ended between `stop_sent`
    /// and `stop_answered`. The bounds hold however loaded the machine is; the slack covers
    /// rounding to 16 kHz samples and the two clocks' reads.
    #[track_caller]
    pub fn assert_lasts_as_long(
        &self,
        file_ms: f64,
        stop_sent: Instant,
        stop_answered: Instant,
        what: &str,
    ) {
        let shortest = (stop_sent - self.at).as_secs_f64() * 1000.0;
        let longest = (stop_answered - self.sent).as_secs_f64() * 1000.0;
        let slack = longest * 0.001 + 5.0;
        assert!(
            file_ms >= shortest - slack && file_ms <= longest + slack,
            "{what}: the file lasts {file_ms} ms; the session lasted between {shortest} and {longest} ms"
        );
    }
}

impl TestRecorder {
    pub async fn start_raw(&self, channel: &str, speakers: bool) -> (u16, Value) {
        let body = json!({"channel": channel, "speakers": speakers, "appId": APP_ID, "token": TOKEN, "uid": BOT_UID});
        json_of(
            self.http
                .post(format!("{}/internal/sessions", self.url))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn start(&self, channel: &str, speakers: bool) -> Started {
        let sent = Instant::now();
        let (status, body) = self.start_raw(channel, speakers).await;
        assert_eq!(status, 200, "start {channel}: {body}");
        Started {
            body,
            sent,
            at: Instant::now(),
        }
    }

    pub async fn stop(&self, target: Value) -> (u16, Value) {
        json_of(
            self.http
                .post(format!("{}/internal/sessions/stop", self.url))
                .json(&target)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_of(
            self.http
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn drill(&self, sid: &str, kind: &str) {
        let r = self
            .http
            .post(format!("{}/internal/sessions/{sid}/drill/{kind}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "drill {kind}");
    }

    pub fn wav(&self, filename: &str) -> wav::Wav {
        wav::Wav::read(&self.recordings.join(filename))
    }

    /// Polls `GET /internal/sessions/{sid}` until the session has stopped (auto-stop).
    pub async fn wait_stopped(&self, sid: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.get(&format!("/internal/sessions/{sid}")).await;
            if status == 200 && body["status"] == "stopped" {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{sid} did not stop in time: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A loopback port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP server that accepts connections and never answers (an upstream that hangs).
pub fn black_hole() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}

/// A TCP server that answers every request with `response` verbatim (an upstream gone wrong).
pub fn canned(response: &'static str) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// The value of the first metrics line starting with `line_start` (name, labels and a space).
pub fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(line_start)
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Now, in Unix milliseconds.
pub fn unix_ms_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
