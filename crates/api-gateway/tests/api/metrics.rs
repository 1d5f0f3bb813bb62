//! `GET /metrics`: Prometheus text, request counts and latencies by route, tokens by role.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn metrics_count_requests_by_route_and_tokens_by_role() {
    let app = spawn_app().await;
    app.post_token(json!({"channel": "c", "uid": 1})).await;
    app.post_token(json!({"channel": "c", "uid": 2})).await;
    app.post_token(json!({"channel": "c", "uid": 3, "role": "publisher"}))
        .await;
    app.post_token(json!({"channel": "c"})).await;
    app.http
        .get(format!("{}/some/random/path/123", app.address))
        .send()
        .await
        .unwrap();

    let r = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    for line in [
        r#"memharbor_gateway_tokens_issued_total{role="subscriber",version="006"} 2"#,
        r#"memharbor_gateway_tokens_issued_total{role="publisher",version="006"} 1"#,
        r#"memharbor_gateway_http_requests_total{route="/api/token",method="POST",status="200"} 3"#,
        r#"memharbor_gateway_http_requests_total{route="/api/token",method="POST",status="400"} 1"#,
        r#"memharbor_gateway_http_requests_total{route="(unknown)",method="GET",status="404"} 1"#,
        "# TYPE memharbor_gateway_http_request_duration_seconds histogram",
        r#"memharbor_gateway_http_request_duration_seconds_count{route="/api/token"} 4"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("random/path"),
        "client paths never become labels"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}
