//! A cluster on loopback: Google's Firestore emulator, fake-gcs-server, recorders as processes
//! (the real binary, each with its own recordings folder, id, and a TCP proxy in front of the
//! emulator that the test can cut), and gateways in-process. Heartbeats every second and a
//! 5-second lease keep the tests short. The webhook tests use its recorder processes (which
//! they kill -9 and restart) and its single-mode gateway.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memharbor_testkit::emulators::{self, Server};
use memharbor_testkit::proxy::TcpProxy;
use memharbor_testkit::{self as kit, SECRET};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const BUCKET: &str = "demo-memharbor.appspot.com";
pub const LEASE_S: u64 = 5;
const APP_CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

/// One recorder process.
pub struct Node {
    pub id: String,
    pub url: String,
    pub dir: TempDir,
    /// Its link to Firestore (cluster mode).
    link: Option<TcpProxy>,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl Node {
    /// Starts the recorder binary on a free port with its own folder and the SDK stand-in
    /// playing `scenario`, `env` on top (cluster mode adds its advertised URL).
    pub fn start(
        id: &str,
        scenario: &Value,
        env: Vec<(String, String)>,
        link: Option<TcpProxy>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sdk = kit::standin_sdk(dir.path(), scenario);
        let port = kit::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(String, String)> = [
            ("RECORDER_HTTP_ADDR", format!("127.0.0.1:{port}")),
            (
                "RECORDER_RECORDINGS_DIR",
                dir.path().join("recordings").display().to_string(),
            ),
            ("RECORDER_AGORA_SDK", sdk.display().to_string()),
            ("RECORDER_CHROMIUM_EXTRA_ARGS", kit::STANDIN_ARGS.join(" ")),
            ("RECORDER_MIN_FREE_MB", "64".into()),
            ("RECORDER_UPLOAD_WAIT_S", "10".into()),
            ("MEMHARBOR_SECRET_KEY", SECRET.into()),
            ("RECORDER_ADVERTISE_URL", url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        all.extend(env);
        let mut node = Node {
            id: id.to_owned(),
            url,
            dir,
            link,
            child: None,
            env: all,
        };
        node.spawn();
        node
    }

    /// Its link to Firestore (cluster nodes only).
    pub fn link(&self) -> &TcpProxy {
        self.link.as_ref().expect("a cluster node")
    }

    /// Starts it again after [`Self::kill`]: same folder, same settings.
    pub fn restart(&mut self) {
        self.spawn();
    }

    /// Answers `/readyz`.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(format!("{}/readyz", self.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                Instant::now() < deadline,
                "recorder {} did not come up",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn recordings(&self) -> std::path::PathBuf {
        self.dir.path().join("recordings")
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_recorder-svc"))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // Kept beside its recordings: a failing test's first clue.
            .stdout(self.log_file())
            .stderr(self.log_file())
            .spawn()
            .expect("recorder binary starts");
        self.child = Some(child);
    }

    /// `kill -TERM`, and waits until it has exited (a graceful stop: it hands its sessions over).
    pub async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not exit on SIGTERM",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("recorder.log"))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn status(&self) -> Value {
        kit::client()
            .get(format!("{}/status", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        kit::json_of(
            kit::client()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        kit::json_of(
            kit::client()
                .post(format!("{}{path}", self.url))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The Prometheus text of its `/metrics`.
    pub async fn metrics(&self) -> String {
        kit::client()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The WAV `filename` in its recordings folder.
    pub fn wav(&self, filename: &str) -> kit::wav::Wav {
        kit::wav::Wav::read(&self.recordings().join(filename))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // The test failed: its recorders' last words.
            let log =
                std::fs::read_to_string(self.dir.path().join("recorder.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("---- {} (last 60 log lines) ----", self.id);
            for line in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A gateway of the cluster, in-process.
pub struct Gateway {
    pub url: String,
    /// Its link to Firestore.
    pub link: TcpProxy,
    _logs: TempDir,
}

pub struct Cluster {
    pub firestore: Server,
    /// fake-gcs-server, where the recorders upload.
    pub gcs: Server,
    pub nodes: Vec<Node>,
    pub gateways: Vec<Gateway>,
    pub http: reqwest::Client,
}

pub struct Plan {
    pub recorders: usize,
    pub gateways: usize,
    pub max_sessions: usize,
    pub scenario: Value,
    /// `MEMHARBOR_CLUSTER_HEARTBEAT_S` and `MEMHARBOR_CLUSTER_LEASE_S` (1 s and 5 s in tests).
    pub heartbeat_s: u64,
    pub lease_s: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            recorders: 3,
            gateways: 2,
            max_sessions: 2,
            scenario: kit::everywhere(vec![kit::tone(1001, 440, 0, 600_000)]),
            heartbeat_s: 1,
            lease_s: LEASE_S,
        }
    }
}

impl Cluster {
    pub async fn start(plan: Plan) -> Self {
        let (firestore, gcs) = (emulators::firestore(0).await, emulators::fake_gcs(0).await);
        gcs.create_bucket(BUCKET).await;
        let mut gateways = Vec::new();
        for _ in 0..plan.gateways {
            gateways.push(gateway(firestore.port, plan.lease_s).await);
        }
        let mut nodes = Vec::new();
        for n in 0..plan.recorders {
            let link = TcpProxy::start(&format!("127.0.0.1:{}", firestore.port)).await;
            let id = format!("rec-{n}");
            let env = vec![
                (
                    "RECORDER_MAX_SESSIONS".to_owned(),
                    plan.max_sessions.to_string(),
                ),
                ("FIREBASE_PROJECT_ID".into(), "demo-memharbor".into()),
                ("FIREBASE_STORAGE_BUCKET".into(), BUCKET.into()),
                ("FIREBASE_USE_EMULATOR".into(), "true".into()),
                ("FIRESTORE_EMULATOR_HOST".into(), link.addr.clone()),
                ("FIREBASE_STORAGE_EMULATOR_HOST".into(), gcs.url.clone()),
                ("MEMHARBOR_CLUSTER".into(), "true".into()),
                (
                    "MEMHARBOR_CLUSTER_HEARTBEAT_S".into(),
                    plan.heartbeat_s.to_string(),
                ),
                ("MEMHARBOR_CLUSTER_LEASE_S".into(), plan.lease_s.to_string()),
                ("RECORDER_ID".into(), id.clone()),
                // Fresh bot tokens (a continued session's bot joins with its own).
                ("RECORDER_GATEWAY_URL".into(), gateways[0].url.clone()),
            ];
            nodes.push(Node::start(&id, &plan.scenario, env, Some(link)));
        }
        let cluster = Self {
            firestore,
            gcs,
            nodes,
            gateways,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        for n in 0..cluster.nodes.len() {
            cluster.wait_ready(n).await;
        }
        cluster.wait_live(plan.recorders).await;
        cluster
    }

    /// Recorder `n` answers `/readyz`.
    pub async fn wait_ready(&self, n: usize) {
        self.nodes[n].wait_ready().await;
    }

    /// Cuts every recorder's and gateway's link to Firestore (an outage of the directory, its
    /// documents kept), or heals them all. (The recovery bench uses it; the tests restart the
    /// emulator instead.)
    pub fn cut_directory(&self, cut: bool) {
        let links = self.nodes.iter().map(Node::link);
        for link in links.chain(self.gateways.iter().map(|g| &g.link)) {
            if cut { link.cut() } else { link.heal() }
        }
    }

    /// Stops the Firestore emulator (for everyone: recorders and gateways).
    pub fn stop_firestore(&mut self) {
        self.firestore.stop();
    }

    /// Starts the emulator again on the same port. It comes back empty: harsher than an outage of
    /// the real Firestore, which keeps its documents; the recorders write theirs back.
    pub async fn restart_firestore(&mut self) {
        self.firestore = emulators::firestore(self.firestore.port).await;
    }

    /// A document of the directory as the emulator holds it (`None` if absent).
    pub async fn document(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!(
                "{}/v1/projects/demo-memharbor/databases/(default)/documents/{path}",
                self.firestore.url
            ))
            .bearer_auth("owner")
            .send()
            .await
            .unwrap();
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// Overwrites a document's fields, as another recorder's write would.
    pub async fn write_document(&self, path: &str, fields: Value) {
        let r = self
            .http
            .patch(format!(
                "{}/v1/projects/demo-memharbor/databases/(default)/documents/{path}",
                self.firestore.url
            ))
            .bearer_auth("owner")
            .json(&json!({ "fields": fields }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Waits until every gateway's health counts `live` recorders.
    pub async fn wait_live(&self, live: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for g in 0..self.gateways.len() {
            loop {
                let (_, health) = self.get(g, "/api/health").await;
                if health["recorders"]["live"] == json!(live) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "gateway {g} does not see {live} live recorders: {health}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    pub async fn get(&self, g: usize, path: &str) -> (u16, Value) {
        kit::json_of(
            self.http
                .get(format!("{}{path}", self.gateways[g].url))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, g: usize, path: &str, body: Value) -> (u16, Value) {
        kit::json_of(
            self.http
                .post(format!("{}{path}", self.gateways[g].url))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn start_via(&self, g: usize, channel: &str) -> (u16, Value) {
        self.post(g, "/api/recording/start", json!({"channel": channel}))
            .await
    }

    /// Which recorder records `sid`, as the merged status says.
    pub async fn recorder_of(&self, g: usize, sid: &str) -> Option<String> {
        let (_, status) = self.get(g, "/api/recording/status").await;
        status["sessions"]
            .as_array()?
            .iter()
            .find(|s| s["sid"] == sid)
            .and_then(|s| s["recorder"].as_str().map(str::to_owned))
    }

    pub fn node_mut(&mut self, id: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no recorder {id}"))
    }

    pub fn node(&self, id: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("known recorder")
    }
}

/// A gateway in-process, with `env` on top of what every test gateway has; its URL.
async fn launch_gateway(env: Vec<(&str, String)>, logs: &std::path::Path) -> String {
    let base = [
        ("AGORA_APP_ID", kit::APP_ID.to_owned()),
        ("AGORA_APP_CERT", APP_CERT.to_owned()),
        ("MEMHARBOR_SECRET_KEY", SECRET.to_owned()),
        ("MEMHARBOR_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("MEMHARBOR_WORKERS", "2".to_owned()),
        ("MEMHARBOR_LOG_DIR", logs.display().to_string()),
    ];
    let env: HashMap<String, String> = base
        .into_iter()
        .chain(env)
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let settings = api_gateway::settings::Settings::from_sources(HashMap::new(), env)
        .expect("gateway settings");
    let app = api_gateway::startup::Application::build(settings)
        .await
        .expect("gateway builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// A single-mode gateway (in-process) in front of the recorder at `recorder_url`.
pub async fn single_gateway(recorder_url: &str) -> String {
    let logs = tempfile::tempdir().unwrap().keep();
    launch_gateway(vec![("RECORDER_URL", recorder_url.to_owned())], &logs).await
}

async fn gateway(firestore_port: u16, lease_s: u64) -> Gateway {
    let logs = tempfile::tempdir().unwrap();
    let link = TcpProxy::start(&format!("127.0.0.1:{firestore_port}")).await;
    let env = vec![
        ("MEMHARBOR_CLUSTER", "true".to_owned()),
        ("MEMHARBOR_CLUSTER_LEASE_S", lease_s.to_string()),
        ("FIREBASE_PROJECT_ID", "demo-memharbor".to_owned()),
        ("FIREBASE_USE_EMULATOR", "true".to_owned()),
        ("FIRESTORE_EMULATOR_HOST", link.addr.clone()),
    ];
    let url = launch_gateway(env, logs.path()).await;
    Gateway {
        url,
        link,
        _logs: logs,
    }
}
