//! The page with the real Agora SDK: it loads, and a join that cannot reach Agora fails the start
//! cleanly within the bound. Nothing leaves the machine: every host name resolves to nothing (but the
//! page's own 127.0.0.1: `MAP *` matches IP literals too) and any proxy-able traffic goes to a
//! closed loopback port.

use std::time::{Duration, Instant};

use crate::helpers::{Options, free_port, real_sdk_path, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_sdk_a_join_that_cannot_reach_agora_fails_within_the_bound() {
    let sdk = real_sdk_path();
    assert!(
        sdk.is_file(),
        "{} missing: `make test` fetches the pinned SDK",
        sdk.display()
    );
    let rec = spawn(Options {
        sdk: Some(sdk),
        extra_args: vec![
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1".into(),
            format!("--proxy-server=127.0.0.1:{}", free_port()),
        ],
        join_timeout: Duration::from_secs(8),
        ..Options::default()
    })
    .await;
    let asked = Instant::now();
    let (status, body) = rec.start_raw("g1_real_sdk", false).await;
    let took = asked.elapsed();
    assert!(took <= Duration::from_secs(11), "took {took:?}");
    match status {
        502 => {
            assert_eq!(body["error"]["code"], "join_failed", "{body}");
            // The SDK loaded: the failure is Agora's, not a missing script.
            assert!(
                !body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("SDK_NOT_LOADED"),
                "{body}"
            );
        }
        504 => assert_eq!(body["error"]["code"], "join_timeout", "{body}"),
        other => panic!("unexpected {other}: {body}"),
    }
    // No half-started session remains.
    let (_, sessions) = rec.get("/internal/sessions").await;
    assert_eq!(sessions["count"], 0);
    let (_, status) = rec.get("/status").await;
    assert_eq!(status["sessions"].as_array().unwrap().len(), 0, "{status}");
    let tabs: usize = status["browsers"]["browsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["sessions"].as_array().unwrap().len())
        .sum();
    assert_eq!(tabs, 0);
}
