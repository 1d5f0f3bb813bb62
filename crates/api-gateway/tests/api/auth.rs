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
