//! A sweep of generated malformed requests: every answer is a documented 4xx with the JSON error
//! body (or a 200 where the input happens to be valid); never a 5xx, a panic or a hang.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::openapi::{check_against_document, documented_codes, served_document};

const ROUTES: [&str; 3] = ["/api/health", "/api/openapi.json", "/api/token"];
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 7 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e10 - 5e9),
        4 => json!(random_string(rng, 80)),
        5 => json!(rng.random_range(0u64..5_000_000_000)),
        6 => json!(["-1", "4294967296", "1e3", "0", "", " "][rng.random_range(0..6)]),
        7 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..4))
                .map(|_| (random_string(rng, 8), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn random_string(rng: &mut StdRng, max: usize) -> String {
    let pool: Vec<char> = "abcXYZ019 _!#$%&()+-:;<=.>?@[]^{|}~,\"'\\/\n\t\u{0}é채😀"
        .chars()
        .collect();
    let len = rng.random_range(0..=max);
    (0..len)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect()
}

/// A token request with one or more fields replaced by something random or absent.
fn mangled_token_body(rng: &mut StdRng) -> Vec<u8> {
    let mut obj =
        json!({"channel": "group1_alice_bob", "uid": 12345, "role": "publisher", "expire": 3600});
    for field in ["channel", "uid", "user_account", "role", "expire"] {
        match rng.random_range(0..4) {
            0 => {
                obj.as_object_mut().unwrap().remove(field);
            }
            1 => obj[field] = random_value(rng, 0),
            _ => {}
        }
    }
    let text = obj.to_string().into_bytes();
    match rng.random_range(0..10) {
        0 => text[..rng.random_range(0..text.len())].to_vec(),
        1 => (0..rng.random_range(0..200))
            .map(|_| rng.random::<u8>())
            .collect(),
        2 => format!(
            "{}{}",
            "[".repeat(rng.random_range(100..3000)),
            "]".repeat(5)
        )
        .into_bytes(),
        3 => {
            let mut t = text;
            t.extend(std::iter::repeat_n(b' ', rng.random_range(16_000..40_000)));
            t
        }
        _ => text,
    }
}

#[tokio::test]
async fn thousands_of_malformed_requests_never_get_a_5xx_or_hang() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let codes = documented_codes(&doc);
    let mut rng = StdRng::seed_from_u64(0x6d656d68);
    let mut requests = Vec::new();
    for i in 0..2500 {
        let (method, path) = if i % 5 == 0 {
            let unknown = format!(
                "/{}",
                random_string(&mut rng, 30).replace(['\n', '\t', '\u{0}', '#', '?'], "x")
            );
            (METHODS[rng.random_range(0..METHODS.len())], unknown)
        } else if i % 5 == 1 {
            (
                METHODS[rng.random_range(0..METHODS.len())],
                ROUTES[rng.random_range(0..ROUTES.len())].to_owned(),
            )
        } else {
            ("POST", "/api/token".to_owned())
        };
        let content_type = match rng.random_range(0..12) {
            0 => None,
            1 => Some("text/plain"),
            2 => Some("application/json; charset=utf-8"),
            3 => Some("application/jsonx"),
            4 => Some("multipart/form-data; boundary=x"),
            _ => Some("application/json"),
        };
        requests.push((method, path, content_type, mangled_token_body(&mut rng)));
    }

    let seen = futures_util::stream::iter(requests)
        .map(|(method, path, content_type, body)| {
            let app = &app;
            async move {
                let url = format!("{}{}", app.address, path);
                let Ok(url) = reqwest::Url::parse(&url) else {
                    return None;
                };
                let mut request = app.http.request(method.parse().unwrap(), url).body(body);
                if let Some(ct) = content_type {
                    request = request.header("content-type", ct);
                }
                let response = tokio::time::timeout(Duration::from_secs(10), request.send())
                    .await
                    .unwrap_or_else(|_| panic!("{method} {path} hung"))
                    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
                let status = response.status().as_u16();
                let bytes = response.bytes().await.unwrap();
                Some((method, path, status, bytes))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    let mut statuses = BTreeSet::new();
    let mut codes_seen = BTreeSet::new();
    for (method, path, status, bytes) in seen.into_iter().flatten() {
        assert!(!(500..600).contains(&status), "{method} {path} → {status}");
        assert!(
            [200, 400, 401, 404, 405, 413, 415].contains(&status),
            "{method} {path} → {status}"
        );
        statuses.insert(status);
        if status != 200 && method != "HEAD" {
            let body: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{method} {path} → {status}: not JSON: {bytes:?}"));
            let code = body["error"]["code"].as_str().unwrap().to_owned();
            assert!(codes.contains(&code), "undocumented code {code}");
            if let Some(op) = doc["paths"][&path].get(method.to_lowercase())
                && op["responses"].get(status.to_string()).is_some()
            {
                check_against_document(&doc, &path, &method.to_lowercase(), status, &body);
            }
            codes_seen.insert(code);
        }
    }
    for expected in [200, 400, 404, 405, 413, 415] {
        assert!(
            statuses.contains(&expected),
            "the sweep never produced {expected}: {statuses:?}"
        );
    }
    assert!(codes_seen.len() >= 10, "{codes_seen:?}");
}

#[tokio::test]
async fn a_chunked_body_without_length_is_still_capped() {
    let app = spawn_app().await;
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let r = app
        .http
        .post(format!("{}/api/token", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}
