//! The served OpenAPI document is true: every documented (route, method, status) is produced by a
//! real request whose body matches the documented schema, and undocumented methods answer 405.

use std::collections::BTreeSet;

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

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

async fn exchange(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&str>,
    auth: Option<&str>,
) -> (u16, Value) {
    let mut request = app.http.request(
        method.to_uppercase().parse().unwrap(),
        format!("{}{path}", app.address),
    );
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(key) = auth {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn the_document_describes_what_is_served() {
    let app = spawn_app().await;
    let keyed = spawn_app_with(|s| s.api_keys = vec![SecretString::from("k".to_owned())]).await;
    let doc = served_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // (app, method, path, body, expected status)
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(17_000));
    let examples: Vec<(&TestApp, &str, &str, Option<String>, u16)> = vec![
        (&app, "get", "/api/health", None, 200),
        (&app, "post", "/api/health", None, 405),
        (&app, "get", "/api/openapi.json", None, 200),
        (&app, "delete", "/api/openapi.json", None, 405),
        (
            &app,
            "post",
            "/api/token",
            Some(json!({"channel": "c", "uid": 1}).to_string()),
            200,
        ),
        (
            &app,
            "post",
            "/api/token",
            Some(json!({"channel": "c"}).to_string()),
            400,
        ),
        (
            &keyed,
            "post",
            "/api/token",
            Some(json!({"channel": "c", "uid": 1}).to_string()),
            401,
        ),
        (&app, "get", "/api/token", None, 405),
        (&app, "post", "/api/token", Some(big), 413),
    ];
    let mut covered = BTreeSet::new();
    for (target, method, path, body, expected) in examples {
        let (status, response) = exchange(target, method, path, body.as_deref(), None).await;
        assert_eq!(status, expected, "{method} {path}");
        let documented_method = doc["paths"][path].get(method).is_some();
        if documented_method {
            check_against_document(&doc, path, method, status, &response);
            covered.insert((path.to_owned(), method.to_owned(), status));
        } else {
            assert_eq!(status, 405);
            let allowed: Vec<_> = doc["paths"][path]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(allowed.len(), 1);
            check_against_document(&doc, path, &allowed[0], 405, &response);
        }
    }
    // 415 needs a wrong content type.
    let r = app
        .http
        .post(format!("{}/api/token", app.address))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    check_against_document(&doc, "/api/token", "post", 415, &body);
    covered.insert(("/api/token".to_owned(), "post".to_owned(), 415));

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
