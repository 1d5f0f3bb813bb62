//! A user reaches only their own recordings, through the real gateway and the real recorder:
//! someone else's sid or file is unknown (404), someone else's channel forbidden (403), their list
//! holds only theirs whatever they ask; per-user caps answer 429. A sweep of random requests with
//! a user's token never gets a 5xx nor anything of another user's.

use std::time::Duration;

use futures_util::StreamExt as _;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of};
use crate::users::{KeySet, id_token, users_app};

async fn call(
    app: &TestApp,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut request = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.address))
        .bearer_auth(bearer)
        .timeout(Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_reaches_her_own_recordings_and_nothing_of_carols() {
    let recorder = memharbor_testkit::spawn(memharbor_testkit::Options {
        scenario: memharbor_testkit::everywhere(vec![memharbor_testkit::tone(
            1001, 440, 0, 600_000,
        )]),
        ..memharbor_testkit::Options::default()
    })
    .await;
    let keys = KeySet::start().await;
    let app = users_app(&keys, |s| {
        s.recorder.url = recorder.url.clone();
        s.secret_key = secrecy::SecretString::from(memharbor_testkit::SECRET.to_owned());
        s.auth.limits.max_recordings_per_user = 1;
    })
    .await;
    let (alice, server) = (id_token("alice"), "server-key");

    // Carol's call, recorded by a trusted server; then Alice's own.
    let (status, carol, _) = call(
        &app,
        server,
        "POST",
        "/api/recording/start",
        Some(json!({"channel": "g1_carol_dave"})),
    )
    .await;
    assert_eq!(status, 200, "{carol}");
    let carol_sid = carol["sid"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/start",
        Some(json!({"channel": "g1_carol_dave"})),
    )
    .await;
    assert_eq!(status, 403, "not her channel");
    let (status, mine, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/start",
        Some(json!({"channel": "g1_alice_bob"})),
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    let my_sid = mine["sid"].as_str().unwrap().to_owned();

    // One recording at a time for Alice here: a second channel is refused, the same one answered.
    let (status, capped, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/start",
        Some(json!({"channel": "g2_alice_bob"})),
    )
    .await;
    assert_eq!(
        (status, capped["error"]["code"].as_str()),
        (429, Some("too_many_recordings"))
    );
    let (status, again, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/start",
        Some(json!({"channel": "g1_alice_bob"})),
    )
    .await;
    assert_eq!((status, again["existing"].as_bool()), (200, Some(true)));

    // Status: hers only. Carol's sid: unknown, in every route.
    let (_, status_list, _) = call(&app, &alice, "GET", "/api/recording/status", None).await;
    assert_eq!(status_list["count"], 1, "{status_list}");
    assert_eq!(status_list["sessions"][0]["sid"], my_sid.as_str());
    let (status, _, _) = call(
        &app,
        &alice,
        "GET",
        &format!("/api/recording/{carol_sid}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/stop",
        Some(json!({"sid": carol_sid})),
    )
    .await;
    assert_eq!(
        status, 404,
        "someone else's sid is unknown, and not stopped"
    );
    let (status, _, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/stop",
        Some(json!({"channel": "g1_carol_dave"})),
    )
    .await;
    assert_eq!(status, 403);
    let (_, still, _) = call(
        &app,
        server,
        "GET",
        &format!("/api/recording/{carol_sid}"),
        None,
    )
    .await;
    assert_eq!(still["status"], "recording", "Carol's recording goes on");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, my_body, _) = call(
        &app,
        &alice,
        "POST",
        "/api/recording/stop",
        Some(json!({"sid": my_sid})),
    )
    .await;
    assert_eq!(status, 200, "{my_body}");
    let (status, carol_body, _) = call(
        &app,
        server,
        "POST",
        "/api/recording/stop",
        Some(json!({"channel": "g1_carol_dave"})),
    )
    .await;
    assert_eq!(status, 200, "{carol_body}");
    let carol_file = carol_body["filename"].as_str().unwrap().to_owned();
    let my_file = my_body["filename"].as_str().unwrap().to_owned();

    // The list: hers, whatever she asks for.
    for query in [
        "",
        "?user=carol",
        "?channel=g1_carol_dave",
        "?groupId=g1",
        "?user=alice&user=carol",
    ] {
        let (status, list, _) = call(
            &app,
            &alice,
            "GET",
            &format!("/api/recording/list{query}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}");
        let ids: Vec<&str> = list["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&carol_sid.as_str()), "{query}: {list}");
        if query.is_empty() || query == "?groupId=g1" {
            assert_eq!(ids, [my_sid.as_str()], "{query}");
        }
    }
    let (_, all, _) = call(&app, server, "GET", "/api/recording/list", None).await;
    assert_eq!(
        all["recordings"].as_array().unwrap().len(),
        2,
        "a trusted server sees both"
    );
    // Files: hers downloads, Carol's is unknown.
    let (status, _, _) = call(
        &app,
        &alice,
        "GET",
        &format!("/api/recording/files/{my_file}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &app,
        &alice,
        "GET",
        &format!("/api/recording/files/{carol_file}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &app,
        &alice,
        "GET",
        &format!("/api/recording/{carol_sid}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "a finished recording too");

    // A sweep of random requests with Alice's token: never a 5xx, never anything of Carol's.
    let mut rng = StdRng::seed_from_u64(0x616c_6963);
    let paths = [
        ("GET", "/api/recording/status".to_owned()),
        ("GET", "/api/recording/list".to_owned()),
        ("GET", format!("/api/recording/{carol_sid}")),
        ("GET", format!("/api/recording/{my_sid}")),
        ("GET", format!("/api/recording/files/{carol_file}")),
        ("POST", "/api/recording/stop".to_owned()),
        ("POST", "/api/token".to_owned()),
    ];
    let requests: Vec<(String, String, Option<Value>)> = (0..300)
        .map(|_| {
            let (method, path) = paths[rng.random_range(0..paths.len())].clone();
            let query = match rng.random_range(0..4) {
                0 => format!(
                    "?user={}",
                    ["carol", "dave", "alice", ""][rng.random_range(0..4)]
                ),
                1 => format!("?channel=g1_carol_dave&limit={}", rng.random_range(0..300)),
                _ => String::new(),
            };
            let body = (method == "POST").then(|| match rng.random_range(0..5) {
                0 => json!({"sid": carol_sid}),
                1 => json!({"channel": "g1_carol_dave"}),
                2 => json!({"channel": "g1_carol_dave", "uid": rng.random_range(0..100)}),
                3 => json!({"sid": carol_sid, "channel": "g1_alice_bob"}),
                _ => {
                    let choices = [json!("g1_alice_bob"), Value::Null, json!(5)];
                    json!({"channel": choices[rng.random_range(0..3)].clone()})
                }
            });
            (method.to_owned(), format!("{path}{query}"), body)
        })
        .collect();
    let answers = futures_util::stream::iter(requests)
        .map(|(method, path, body)| {
            let (app, alice) = (&app, &alice);
            async move {
                (
                    method.clone(),
                    path.clone(),
                    call(app, alice, &method, &path, body).await,
                )
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (method, path, (status, _, text)) in answers {
        assert!(status < 500, "{method} {path} → {status}: {text}");
        assert!(
            !text.contains(&carol_sid) && !text.contains("carol_dave_"),
            "{method} {path} → {status} leaked: {text}"
        );
    }
    let _ = error_of;
}
