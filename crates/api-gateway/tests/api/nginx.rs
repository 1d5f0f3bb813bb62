//! nginx.conf for real: Debian's nginx with the repository's config (only addresses and file
//! paths adjusted) in front of the real gateway. A token comes through; the recorder's and the
//! gateway's internal routes do not; the client address reaches api.log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{closed_port, spawn_app};

struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("nginx installed (make test installs Debian's nginx)")
}

/// Replaces `from` with `to`, insisting it was there (so the test cannot drift from the file).
fn swap(config: String, from: &str, to: &str) -> String {
    assert!(config.contains(from), "nginx.conf no longer has {from:?}");
    config.replace(from, to)
}

fn start_nginx(gateway_port: u16) -> Nginx {
    start_nginx_with(|config| {
        swap(
            config,
            "set $memharbor_gateway gateway:8001;",
            &format!("set $memharbor_gateway 127.0.0.1:{gateway_port};"),
        )
    })
}

/// nginx with the repository's config, its addresses and paths adjusted, then `adjust`ed.
fn start_nginx_with(adjust: impl FnOnce(String) -> String) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let port = closed_port();
    let original =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nginx.conf"))
            .unwrap();
    let mut config = swap(original, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    config = adjust(config);
    config = swap(
        config,
        "pid /var/run/nginx.pid;",
        &format!("pid {d}/nginx.pid;"),
    );
    config = swap(
        config,
        "/var/log/nginx/error.log",
        &format!("{d}/error.log"),
    );
    config = swap(
        config,
        "/var/log/nginx/access.log",
        &format!("{d}/access.log"),
    );
    config = swap(
        config,
        "http {",
        &format!(
            "http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;"
        ),
    );
    std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

#[tokio::test]
async fn nginx_forwards_the_api_only_and_passes_the_client_address() {
    let app = spawn_app().await;
    let gateway_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx(gateway_port);
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{}/api/token", nginx.url))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"channel": "group1_alice_bob", "uid": 12345}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("006"));

    // Internal routes of the gateway and the recorder's ops routes are not reachable.
    for path in [
        "/internal/bot-token",
        "/metrics",
        "/livez",
        "/readyz",
        "/status",
        "/internal/sessions",
        "/api/../internal/bot-token",
    ] {
        let r = http
            .get(format!("{}{path}", nginx.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let r = http
        .get(format!("{}/api/nope", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "unknown API routes get the gateway's JSON 404"
    );

    // Bodies: the gateway answers 413 past 16 KiB; nginx stops anything far bigger, in JSON too.
    for size in [20_000, 200_000] {
        let r = http
            .post(format!("{}/api/token", nginx.url))
            .header("content-type", "application/json")
            .body(format!(r#"{{"pad":"{}"}}"#, "x".repeat(size)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{size}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large");
    }

    // The client address behind a trusted proxy reaches the original's request log.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(app.log_dir.path().join("api.log")).unwrap_or_default();
        if log.contains("[TOKEN] POST from 203.0.113.9") {
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn through_nginx_an_encoded_path_still_needs_the_api_key() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.api_keys = vec![secrecy::SecretString::from("k1".to_owned())];
    })
    .await;
    let gateway_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx(gateway_port);
    let http = reqwest::Client::new();
    let token = json!({"channel": "group1_alice_bob", "uid": 12345});
    for (method, path) in [
        ("POST", "/%61pi/token"),
        ("POST", "/ap%69/token"),
        ("POST", "/api/%74oken"),
        ("POST", "/api/t%6Fken"),
        ("POST", "/api/t%6fken"),
        ("POST", "/%2561pi/token"),
        ("GET", "/%61pi/recording/list"),
        ("GET", "/api/recording/%6Cist"),
        ("GET", "/api/%72ecording/status"),
    ] {
        let r = http
            .request(method.parse().unwrap(), format!("{}{path}", nginx.url))
            .json(&token)
            .send()
            .await
            .unwrap();
        // nginx answers its own JSON 404 for what it does not forward; nothing is a 200.
        let status = r.status().as_u16();
        assert!([401, 404].contains(&status), "{method} {path} → {status}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
    }
    let r = http
        .post(format!("{}/%61pi/t%6Fken", nginx.url))
        .bearer_auth("k1")
        .json(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the key opens the same route however it is spelled"
    );
}

/// A DNS server for one name, on loopback, whose answer the test changes: what Docker's DNS does
/// when a container is recreated with a new address.
struct Dns {
    port: u16,
    address: std::sync::Arc<std::sync::Mutex<[u8; 4]>>,
}

impl Dns {
    fn start(address: [u8; 4]) -> Dns {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(address));
        let answer = std::sync::Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let query = &buf[..n];
                // Header (12 bytes), then the question: labels up to a 0, type, class.
                let Some(end) = query
                    .iter()
                    .skip(12)
                    .position(|b| *b == 0)
                    .map(|i| 12 + i + 5)
                else {
                    continue;
                };
                if end > n {
                    continue;
                }
                let is_a = query[end - 4..end - 2] == [0, 1];
                let mut reply = query[..end].to_vec();
                reply[2] = 0x81;
                reply[3] = 0x80;
                reply[6..8].copy_from_slice(&[0, u8::from(is_a)]);
                reply[8..12].copy_from_slice(&[0, 0, 0, 0]);
                if is_a {
                    let ip = *answer.lock().unwrap();
                    reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
                    reply.extend_from_slice(&ip);
                }
                let _ = socket.send_to(&reply, from);
            }
        });
        Dns {
            port,
            address: shared,
        }
    }

    fn point_to(&self, address: [u8; 4]) {
        *self.address.lock().unwrap() = address;
    }
}

#[tokio::test]
async fn nginx_follows_a_recreated_gateway_to_its_new_address() {
    // Two gateways on the same port, as a container recreated with a new address would be.
    let first =
        crate::helpers::spawn_app_with(|s| s.http_addr = "127.0.0.2:0".parse().unwrap()).await;
    let port: u16 = first.address.rsplit(':').next().unwrap().parse().unwrap();
    let second = crate::helpers::spawn_app_with(|s| {
        s.http_addr = format!("127.0.0.3:{port}").parse().unwrap()
    })
    .await;
    let dns = Dns::start([127, 0, 0, 2]);
    let nginx = start_nginx_with(|config| {
        let config = swap(
            config,
            "resolver 127.0.0.11 valid=10s ipv6=off;",
            &format!("resolver 127.0.0.1:{} valid=1s ipv6=off;", dns.port),
        );
        swap(
            config,
            "set $memharbor_gateway gateway:8001;",
            &format!("set $memharbor_gateway gateway:{port};"),
        )
    });
    let http = reqwest::Client::new();
    let token = |tag: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/token", nginx.url);
        async move {
            http.post(url)
                .json(&json!({"channel": tag, "uid": 1}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token("before_move").await, 200);
    dns.point_to([127, 0, 0, 3]);
    // `valid=1s` counts whole seconds of nginx's clock: an answer can be kept for up to 2 s.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(token("after_move").await, 200);
    let log_of = |app: &crate::helpers::TestApp| {
        std::fs::read_to_string(app.log_dir.path().join("api.log")).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log_of(&second).contains("channel=after_move") {
        assert!(
            Instant::now() < deadline,
            "the request did not reach the new address"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(log_of(&first).contains("channel=before_move"));
    assert!(!log_of(&first).contains("channel=after_move"));
}

#[tokio::test]
async fn nginxs_own_errors_are_json_like_the_apis() {
    // No gateway at all: nginx's 502 (and its Retry-After) in the API's shape.
    let nginx = start_nginx(crate::helpers::closed_port());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/api/health", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["retry-after"], "5");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_unavailable");
    // /api (no slash) is a JSON 404, not nginx's HTML redirect.
    let r = http.get(format!("{}/api", nginx.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    // A gateway that never answers: nginx's 504, in JSON.
    let hole = crate::helpers::black_hole();
    let hole = hole.trim_start_matches("http://").to_owned();
    let nginx = start_nginx_with(|config| {
        let config = swap(
            config,
            "set $memharbor_gateway gateway:8001;",
            &format!("set $memharbor_gateway {hole};"),
        );
        swap(config, "proxy_read_timeout 120s;", "proxy_read_timeout 1s;")
    });
    let r = http
        .get(format!("{}/api/health", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_timeout");
}
