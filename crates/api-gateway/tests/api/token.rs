//! `POST /api/token` as the spec states it.

use std::time::{SystemTime, UNIX_EPOCH};

use agora_token::{AppCertificate, Identity, Token, Version};
use serde_json::json;

use crate::helpers::{APP_CERT, APP_ID, error_of, spawn_app, spawn_app_with};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn cert() -> AppCertificate {
    AppCertificate::new(APP_CERT).unwrap()
}

#[tokio::test]
async fn the_originals_example_request_gets_a_verifiable_006_token() {
    let app = spawn_app().await;
    let before = now();
    let response = app.post_token(json!({"channel": "group1_alice_bob", "uid": 12345, "role": "publisher", "expire": 86400})).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(body["expire_in"], 86400);
    let expire_at = body["expire_at"].as_u64().unwrap();
    assert!((before + 86400..=now() + 86400).contains(&expire_at));

    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with(&format!("006{APP_ID}")));
    let Token::V006(parsed) = Token::parse(token).unwrap() else {
        panic!("006 expected")
    };
    Token::V006(parsed.clone())
        .verify(&cert(), "group1_alice_bob", &Identity::Uid(12345))
        .unwrap();
    // Publisher: join + publish audio/video/data, all ending at expire_at.
    assert_eq!(
        parsed.privileges.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(
        parsed
            .privileges
            .values()
            .all(|v| u64::from(*v) == expire_at)
    );
}

#[tokio::test]
async fn defaults_are_a_subscriber_for_a_day() {
    let app = spawn_app().await;
    let body: serde_json::Value = app
        .post_token(json!({"channel": "c", "uid": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["expire_in"], 86400);
    let Token::V006(parsed) = Token::parse(body["token"].as_str().unwrap()).unwrap() else {
        panic!()
    };
    assert_eq!(
        parsed.privileges.keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
    // uid 0 is the wildcard: the token is signed for the empty uid string.
    Token::V006(parsed)
        .verify(&cert(), "c", &Identity::Uid(0))
        .unwrap();
}

#[tokio::test]
async fn expire_above_a_day_is_capped_and_small_values_kept() {
    let app = spawn_app().await;
    for (asked, expected) in [
        (1, 1),
        (3600, 3600),
        (86_401, 86_400),
        (10_000_000_000u64, 86_400),
    ] {
        let body: serde_json::Value = app
            .post_token(json!({"channel": "c", "uid": 1, "expire": asked}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["expire_in"], expected, "expire {asked}");
        let expire_at = body["expire_at"].as_u64().unwrap();
        assert!(expire_at.abs_diff(now() + expected) <= 2);
    }
}

#[tokio::test]
async fn user_accounts_get_account_tokens_and_007_is_configurable() {
    let app = spawn_app_with(|s| s.agora.token_version = Version::V007).await;
    let body: serde_json::Value = app.post_token(json!({"channel": "c h!", "user_account": "alice@example", "role": "subscriber", "expire": 60})).await.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("007"));
    let Token::V007(parsed) = Token::parse(token).unwrap() else {
        panic!("007 expected")
    };
    assert_eq!(parsed.app_id, APP_ID);
    assert_eq!(parsed.expire, 60);
    parsed.verify_rtc(&cert(), "c h!", "alice@example").unwrap();
    assert!(
        Token::V007(parsed)
            .verify(&cert(), "c h!", &Identity::Account("alice".into()))
            .is_err()
    );
}

#[tokio::test]
async fn unknown_fields_and_nulls_are_ignored() {
    let app = spawn_app().await;
    let response = app
        .post_token(
            json!({"channel": "c", "uid": 5, "user_account": null, "role": null, "extra": [1, 2]}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn each_invalid_input_gets_its_documented_error() {
    let app = spawn_app().await;
    let cases = [
        (json!({"uid": 1}), "missing_field", Some("channel")),
        (json!({"channel": "c"}), "missing_field", Some("uid")),
        (
            json!({"channel": "", "uid": 1}),
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"channel": "x".repeat(65), "uid": 1}),
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"channel": "채널", "uid": 1}),
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"channel": "a/b", "uid": 1}),
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"channel": ["c"], "uid": 1}),
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"channel": "c", "uid": "12345"}),
            "invalid_uid",
            Some("uid"),
        ),
        (
            json!({"channel": "c", "uid": -1}),
            "invalid_uid",
            Some("uid"),
        ),
        (
            json!({"channel": "c", "uid": 4_294_967_296u64}),
            "invalid_uid",
            Some("uid"),
        ),
        (
            json!({"channel": "c", "uid": 12.5}),
            "invalid_uid",
            Some("uid"),
        ),
        (
            json!({"channel": "c", "uid": true}),
            "invalid_uid",
            Some("uid"),
        ),
        (
            json!({"channel": "c", "uid": 1, "user_account": "a"}),
            "conflicting_fields",
            Some("user_account"),
        ),
        (
            json!({"channel": "c", "user_account": ""}),
            "invalid_user_account",
            Some("user_account"),
        ),
        (
            json!({"channel": "c", "user_account": "u".repeat(256)}),
            "invalid_user_account",
            Some("user_account"),
        ),
        (
            json!({"channel": "c", "user_account": 7}),
            "invalid_user_account",
            Some("user_account"),
        ),
        (
            json!({"channel": "c", "uid": 1, "role": "Publisher"}),
            "invalid_role",
            Some("role"),
        ),
        (
            json!({"channel": "c", "uid": 1, "role": 1}),
            "invalid_role",
            Some("role"),
        ),
        (
            json!({"channel": "c", "uid": 1, "expire": "3600"}),
            "invalid_expire",
            Some("expire"),
        ),
        (
            json!({"channel": "c", "uid": 1, "expire": 0}),
            "invalid_expire",
            Some("expire"),
        ),
        (
            json!({"channel": "c", "uid": 1, "expire": -60}),
            "invalid_expire",
            Some("expire"),
        ),
        (
            json!({"channel": "c", "uid": 1, "expire": 1.5}),
            "invalid_expire",
            Some("expire"),
        ),
        (json!([1, 2]), "invalid_json", None),
        (json!("channel"), "invalid_json", None),
    ];
    for (body, code, field) in cases {
        let response = app.post_token(body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let (got_code, got_field, message) = error_of(response).await;
        assert_eq!(
            (got_code.as_str(), got_field.as_deref()),
            (code, field),
            "{body}"
        );
        assert!(message.len() > 10, "{message}");
    }
}

#[tokio::test]
async fn a_string_uid_is_pointed_to_user_account() {
    let app = spawn_app().await;
    let (_, _, message) = error_of(
        app.post_token(json!({"channel": "c", "uid": "alice"}))
            .await,
    )
    .await;
    assert!(message.contains("user_account"), "{message}");
}

#[tokio::test]
async fn transport_errors_have_their_statuses() {
    let app = spawn_app().await;
    let url = format!("{}/api/token", app.address);

    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"channel\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(r).await.0, "invalid_json");

    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, "invalid_json");

    let r = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(error_of(r).await.0, "unsupported_media_type");

    let r = app
        .http
        .post(&url)
        .body("channel=c&uid=1")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"channel":"c","uid":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let big = format!(
        r#"{{"channel":"c","uid":1,"pad":"{}"}}"#,
        "x".repeat(16 * 1024)
    );
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_of(r).await.0, "payload_too_large");

    // Exactly 16 KiB is still accepted.
    let prefix = r#"{"channel":"c","uid":1,"pad":""#;
    let pad = 16 * 1024 - prefix.len() - 2;
    let exact = format!("{prefix}{}\"}}", "x".repeat(pad));
    assert_eq!(exact.len(), 16 * 1024);
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(exact)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(error_of(r).await.0, "method_not_allowed");

    let r = app
        .http
        .post(format!("{}/api/tokens", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await.0, "not_found");
}

#[tokio::test]
async fn the_recording_bots_uid_is_never_handed_out() {
    let app = spawn_app_with(|s| s.recorder.uid = 424_242).await;
    let r = app
        .post_token(json!({"channel": "group1_alice_bob", "uid": 424_242, "role": "publisher"}))
        .await;
    assert_eq!(r.status(), 400);
    let (code, field, message) = error_of(r).await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("reserved_uid", Some("uid"))
    );
    assert!(message.contains("424242"), "{message}");
    // Every other uid, including Agora's wildcard 0 (the spec allows it), is issued.
    for uid in [0, 1, 424_241, 999_999] {
        let r = app
            .post_token(json!({"channel": "group1_alice_bob", "uid": uid}))
            .await;
        assert_eq!(r.status(), 200, "{uid}");
    }
}
