//! The recorder's internal key: required on every route but the ops endpoints, however the path
//! is spelled.

use crate::helpers::{Options, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_ops_needs_the_key_however_its_path_is_spelled() {
    let rec = spawn(Options::default()).await;
    let anonymous = reqwest::Client::new();
    let get = |path: &str, keyed: bool| {
        let client = if keyed { &rec.http } else { &anonymous };
        let url = format!("{}{path}", rec.url);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    for path in [
        "/internal/recordings",
        "/%69nternal/recordings",
        "/internal/%72ecordings",
        "/%69%6E%74ernal/recordings",
        "/internal/%73essions",
        "/internal/sessions/%30b0d4c1e-0000-4000-8000-000000000001",
        "/internal/ping",
        "/%2569nternal/recordings",
        "/not-a-route",
    ] {
        assert_eq!(get(path, false).await, 401, "{path} without the key");
    }
    // With the key, an encoded path is the same route.
    assert_eq!(get("/%69nternal/recordings", true).await, 200);
    assert_eq!(get("/internal/p%69ng", true).await, 200);
    for open in ["/livez", "/readyz", "/status", "/metrics", "/l%69vez"] {
        assert_eq!(get(open, false).await, 200, "{open} is open");
    }
}
