//! Optional API keys.

use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{error_of, spawn_app_with};

#[tokio::test]
async fn with_keys_set_every_api_route_but_health_and_openapi_needs_one() {
    let app = spawn_app_with(|s| {
        s.api_keys = vec![
            SecretString::from("key-one".to_owned()),
            SecretString::from("key-two".to_owned()),
        ];
    })
    .await;
    let token_url = format!("{}/api/token", app.address);
    let body = json!({"channel": "c", "uid": 1});

    let r = app.http.post(&token_url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(r).await.0, "unauthorized");

    for bad in [
        "Bearer key-three",
        "Bearer key-on",
        "Basic key-one",
        "key-one",
        "Bearer ",
    ] {
        let r = app
            .http
            .post(&token_url)
            .header("authorization", bad)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    for good in ["Bearer key-one", "Bearer key-two", "bearer key-two"] {
        let r = app
            .http
            .post(&token_url)
            .header("authorization", good)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{good}");
    }

    for open in ["/api/health", "/api/openapi.json"] {
        let r = app
            .http
            .get(format!("{}{open}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{open}");
    }
    // Unknown API routes do not reveal themselves to unauthenticated callers.
    let r = app
        .http
        .get(format!("{}/api/anything", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn without_keys_nothing_is_asked() {
    let app = spawn_app_with(|_| {}).await;
    let r = app.post_token(json!({"channel": "c", "uid": 1})).await;
    assert_eq!(r.status(), 200);
}

/// Every way of spelling `path` that the router reads as `path`: each character percent-encoded
/// in turn (upper- and lower-case hex), every character at once, and mixed.
fn encodings(path: &str) -> Vec<String> {
    let enc = |c: char, lower: bool| {
        if lower {
            format!("%{:02x}", c as u32)
        } else {
            format!("%{:02X}", c as u32)
        }
    };
    let mut out = Vec::new();
    for (i, c) in path.char_indices() {
        if c == '/' {
            continue;
        }
        for lower in [false, true] {
            out.push(format!("{}{}{}", &path[..i], enc(c, lower), &path[i + 1..]));
        }
    }
    let all: String = path
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if c == '/' {
                c.to_string()
            } else {
                enc(c, i % 2 == 0)
            }
        })
        .collect();
    out.push(all);
    out
}

/// `path` with the first character of each segment double-encoded (`a` → `%2561`): not the same
/// route to the router, so never a way around the key.
fn double_encodings(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in path.char_indices() {
        if i > 0 && &path[i - 1..i] == "/" && c != '/' {
            out.push(format!(
                "{}%25{:02X}{}",
                &path[..i],
                c as u32,
                &path[i + 1..]
            ));
        }
    }
    out
}

#[tokio::test]
async fn every_encoding_of_every_route_meets_the_same_key_check() {
    let app = spawn_app_with(|s| {
        s.api_keys = vec![SecretString::from("k1".to_owned())];
    })
    .await;
    let doc = crate::openapi::served_document(&app).await;
    let send = |method: &str, path: &str, key: bool| {
        let mut request = app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .json(&json!({"channel": "g1_alice_bob", "uid": 7}));
        if key {
            request = request.bearer_auth("k1");
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut checked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace("{sid}", "0b0d4c1e-0000-4000-8000-000000000001")
            .replace("{filename}", "g1_alice_bob_2026-02-03T12-00-00.wav");
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let open = send(&method, &path, false).await;
            let keyed = send(&method, &path, true).await;
            assert_ne!(keyed, 401, "{method} {path} with the key");
            for variant in encodings(&path) {
                // The same route: the same answer, with and without the key.
                assert_eq!(
                    send(&method, &variant, false).await,
                    open,
                    "{method} {variant}"
                );
                assert_eq!(
                    send(&method, &variant, true).await,
                    keyed,
                    "{method} {variant} keyed"
                );
                checked += 1;
            }
            for variant in double_encodings(&path) {
                // Another path (unknown, or `{sid}` with a strange sid): denied without the key;
                // with it, never the route asked for.
                assert_eq!(
                    send(&method, &variant, false).await,
                    401,
                    "{method} {variant}"
                );
                let status = send(&method, &variant, true).await;
                assert!(
                    [404, 405].contains(&status),
                    "{method} {variant} keyed → {status}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked}");
    // The reproduction, spelled out: a token and the list are not reachable encoded.
    for (method, path) in [("POST", "/%61pi/token"), ("GET", "/%61pi/recording/list")] {
        assert_eq!(send(method, path, false).await, 401, "{method} {path}");
    }
}
