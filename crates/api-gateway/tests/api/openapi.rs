//! The served OpenAPI document is true: every documented (route, method, status) is produced by a
//! real request whose body matches the documented schema, and undocumented methods answer 405.

use std::collections::BTreeSet;

use std::time::Duration;

use memharbor_testkit::{Options, everywhere, spawn, tone};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, black_hole, canned, closed_port, spawn_app_with};

/// The served document.
pub async fn served_document(app: &TestApp) -> Value {
    let r = app
        .http
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// The error codes the document lists.
pub fn documented_codes(doc: &Value) -> BTreeSet<String> {
    doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Validates `body` against the schema the document gives for (path, method, status).
pub fn check_against_document(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} → {status} is not documented"
    );
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        return;
    };
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {status}: {body} breaks the schema: {errors:?}"
    );
}

/// One request of the table below.
struct Example {
    app: usize,
    method: &'static str,
    path: &'static str,
    /// The concrete URL path (placeholders filled in); defaults to `path`.
    url: Option<String>,
    body: Option<String>,
    content_type: Option<&'static str>,
    range: Option<&'static str>,
    bearer: Option<String>,
    status: u16,
}

fn ex(app: usize, method: &'static str, path: &'static str, status: u16) -> Example {
    Example {
        app,
        method,
        path,
        url: None,
        body: None,
        content_type: Some("application/json"),
        range: None,
        bearer: None,
        status,
    }
}

impl Example {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }
    fn raw(mut self, body: String, content_type: &'static str) -> Self {
        self.body = Some(body);
        self.content_type = Some(content_type);
        self
    }
    fn url(mut self, url: String) -> Self {
        self.url = Some(url);
        self
    }
    fn range(mut self, range: &'static str) -> Self {
        self.range = Some(range);
        self
    }
    fn bearer(mut self, bearer: &str) -> Self {
        self.bearer = Some(bearer.to_owned());
        self
    }
}

async fn send(app: &TestApp, e: &Example) -> (u16, Value) {
    let url = format!("{}{}", app.address, e.url.as_deref().unwrap_or(e.path));
    let mut request = app
        .http
        .request(e.method.to_uppercase().parse().unwrap(), url);
    if let Some(body) = &e.body {
        request = request
            .header("content-type", e.content_type.unwrap_or("application/json"))
            .body(body.clone());
    }
    if let Some(range) = e.range {
        request = request.header("range", range);
    }
    if let Some(bearer) = &e.bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_what_is_served() {
    let recorder = spawn(Options {
        scenario: everywhere(vec![tone(1001, 440, 100, 60_000)]),
        ..Options::default()
    })
    .await;
    let with_recorder = |url: String| {
        move |s: &mut api_gateway::settings::Settings| {
            s.recorder.url = url;
            s.secret_key = secrecy::SecretString::from(memharbor_testkit::SECRET.to_owned());
            s.recorder.timeout = Duration::from_secs(30);
        }
    };
    let apps = [
        spawn_app_with(with_recorder(recorder.url.clone())).await,
        spawn_app_with(|s| s.api_keys = vec![SecretString::from("k".to_owned())]).await,
        spawn_app_with(|s| s.recorder.url = format!("http://127.0.0.1:{}", closed_port())).await,
        spawn_app_with(|s| {
            s.recorder.url = black_hole();
            s.recorder.timeout = Duration::from_secs(1);
        })
        .await,
        spawn_app_with(|s| {
            s.recorder.url =
                canned("HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx")
        })
        .await,
    ];
    // Users (Firebase ID tokens), with tight limits; and users whose key set is unreachable.
    let keys = crate::users::KeySet::start().await;
    let recorder_url = recorder.url.clone();
    let mut apps = apps.into_iter().collect::<Vec<_>>();
    apps.push(
        crate::users::users_app(&keys, move |s| {
            with_recorder(recorder_url)(s);
            s.auth.limits.tokens_per_min = 1;
            s.auth.limits.starts_per_min = 1;
        })
        .await,
    );
    apps.push(
        crate::users::users_app(&keys, |s| {
            if let Some(f) = s.auth.firebase.as_mut() {
                f.keys_url = format!("http://127.0.0.1:{}/jwks", closed_port());
            }
        })
        .await,
    );
    // A recorder of a cluster whose channel lost its owner answers 409 with the sid; the gateway
    // relays it (tests/cluster in recorder-svc produces it for real).
    apps.push(
        spawn_app_with(|s| {
            s.recorder.url = canned(concat!(
                "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\n",
                "content-length: 161\r\nconnection: close\r\n\r\n",
                r#"{"error":{"code":"session_orphaned","message":"the channel's session lost its recorder and waits to be taken over","sid":"0b0d4c1e-0000-4000-8000-000000000001"}}"#
            ))
        })
        .await,
    );
    let (app, keyed, down, slow, broken, users, keyless, orphaned) = (0, 1, 2, 3, 4, 5, 6, 7);
    let (alice, rater, starter) = (
        crate::users::id_token("alice"),
        crate::users::id_token("rater"),
        crate::users::id_token("starter"),
    );
    let doc = served_document(&apps[app]).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // A real recording first, for the routes that show one.
    let (status, started) = send(
        &apps[app],
        &ex(app, "post", "/api/recording/start", 200).body(json!({"channel": "doc_ann_ben"})),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    check_against_document(&doc, "/api/recording/start", "post", 200, &started);
    let sid = started["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, live) = send(
        &apps[app],
        &ex(app, "get", "/api/recording/{sid}", 200).url(format!("/api/recording/{sid}")),
    )
    .await;
    check_against_document(&doc, "/api/recording/{sid}", "get", 200, &live);
    let (_, stopped) = send(
        &apps[app],
        &ex(app, "post", "/api/recording/stop", 200).body(json!({"sid": sid})),
    )
    .await;
    check_against_document(&doc, "/api/recording/stop", "post", 200, &stopped);
    let file = format!(
        "/api/recording/files/{}",
        stopped["filename"].as_str().unwrap()
    );

    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(17_000));
    let recording_routes: [(&'static str, &'static str, Option<Value>); 6] = [
        (
            "post",
            "/api/recording/start",
            Some(json!({"channel": "doc_x_y"})),
        ),
        (
            "post",
            "/api/recording/stop",
            Some(json!({"channel": "doc_x_y"})),
        ),
        ("get", "/api/recording/status", None),
        ("get", "/api/recording/list", None),
        ("get", "/api/recording/{sid}", None),
        ("get", "/api/recording/files/{filename}", None),
    ];
    let mut examples = vec![
        ex(app, "get", "/api/health", 200),
        ex(app, "post", "/api/health", 405),
        ex(app, "get", "/api/openapi.json", 200),
        ex(app, "delete", "/api/openapi.json", 405),
        ex(app, "post", "/api/token", 200).body(json!({"channel": "c", "uid": 1})),
        ex(app, "post", "/api/token", 400).body(json!({"channel": "c"})),
        ex(keyed, "post", "/api/token", 401).body(json!({"channel": "c", "uid": 1})),
        ex(app, "get", "/api/token", 405),
        ex(app, "post", "/api/token", 413).raw(big.clone(), "application/json"),
        ex(app, "post", "/api/token", 415).raw("{}".into(), "text/plain"),
        ex(app, "post", "/api/recording/start", 400).body(json!({"channel": "not_valid"})),
        ex(orphaned, "post", "/api/recording/start", 409).body(json!({"channel": "doc_x_y"})),
        ex(app, "post", "/api/recording/start", 413).raw(big.clone(), "application/json"),
        ex(app, "post", "/api/recording/start", 415).raw("{}".into(), "text/plain"),
        ex(app, "post", "/api/recording/stop", 200).body(json!({"sid": sid})),
        ex(app, "post", "/api/recording/stop", 400).body(json!({})),
        ex(app, "post", "/api/recording/stop", 404)
            .body(json!({"sid": "00000000-0000-0000-0000-000000000000"})),
        ex(app, "post", "/api/recording/stop", 413).raw(big, "application/json"),
        ex(app, "post", "/api/recording/stop", 415).raw("{}".into(), "text/plain"),
        ex(app, "get", "/api/recording/status", 200),
        ex(app, "get", "/api/recording/list", 200),
        ex(app, "get", "/api/recording/list", 400).url("/api/recording/list?limit=0".into()),
        ex(app, "get", "/api/recording/{sid}", 200).url(format!("/api/recording/{sid}")),
        ex(app, "get", "/api/recording/{sid}", 404)
            .url("/api/recording/00000000-0000-0000-0000-000000000000".into()),
        ex(app, "get", "/api/recording/files/{filename}", 200).url(file.clone()),
        ex(app, "get", "/api/recording/files/{filename}", 206)
            .url(file)
            .range("bytes=0-9"),
        ex(app, "get", "/api/recording/files/{filename}", 404)
            .url("/api/recording/files/none.wav".into()),
        // Users: someone else's channel; too often; keys unreachable.
        ex(users, "post", "/api/token", 403)
            .body(json!({"channel": "g1_carol_dave", "uid": 1}))
            .bearer(&alice),
        ex(users, "post", "/api/recording/start", 403)
            .body(json!({"channel": "g1_carol_dave"}))
            .bearer(&alice),
        ex(users, "post", "/api/recording/stop", 403)
            .body(json!({"channel": "g1_carol_dave"}))
            .bearer(&alice),
        ex(users, "post", "/api/token", 200)
            .body(json!({"channel": "g1_rater_x", "uid": 1}))
            .bearer(&rater),
        ex(users, "post", "/api/token", 429)
            .body(json!({"channel": "g1_rater_x", "uid": 1}))
            .bearer(&rater),
        ex(users, "post", "/api/recording/start", 200)
            .body(json!({"channel": "doc_starter_x"}))
            .bearer(&starter),
        ex(users, "post", "/api/recording/start", 429)
            .body(json!({"channel": "doc_starter_y"}))
            .bearer(&starter),
        ex(keyless, "post", "/api/token", 503)
            .body(json!({"channel": "g1_alice_x", "uid": 1}))
            .bearer(&alice),
    ];
    for (method, path, body) in recording_routes {
        let url = path
            .replace("{sid}", &sid)
            .replace("{filename}", "x_y_z.wav");
        let make = |app: usize, status: u16| {
            let e = ex(app, method, path, status).url(url.clone());
            match &body {
                Some(b) => e.body(b.clone()),
                None => e,
            }
        };
        examples.push(make(keyed, 401));
        examples.push(make(broken, 502));
        examples.push(make(down, 503));
        examples.push(make(slow, 504));
        examples.push(
            ex(
                app,
                if method == "get" { "delete" } else { "get" },
                path,
                405,
            )
            .url(url.clone()),
        );
    }

    let mut covered: BTreeSet<(String, String, u16)> = [
        ("/api/recording/start", "post", 200),
        ("/api/recording/{sid}", "get", 200),
        ("/api/recording/stop", "post", 200),
    ]
    .into_iter()
    .map(|(p, m, s)| (p.to_owned(), m.to_owned(), s))
    .collect();
    for e in &examples {
        let (status, response) = send(&apps[e.app], e).await;
        assert_eq!(
            status,
            e.status,
            "{} {}",
            e.method,
            e.url.as_deref().unwrap_or(e.path)
        );
        match doc["paths"][e.path].get(e.method) {
            Some(_) => {
                check_against_document(&doc, e.path, e.method, status, &response);
                covered.insert((e.path.to_owned(), e.method.to_owned(), status));
            }
            None => {
                assert_eq!(status, 405);
                let allowed: Vec<_> = doc["paths"][e.path]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                assert_eq!(allowed.len(), 1);
                check_against_document(&doc, e.path, &allowed[0], 405, &response);
            }
        }
    }

    // Every documented (path, method, status) was produced above.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                let status: u16 = status.parse().unwrap();
                if status == 405 {
                    continue;
                }
                assert!(
                    covered.contains(&(path.clone(), method.clone(), status)),
                    "{method} {path} → {status} documented but not exercised"
                );
            }
        }
    }
}
