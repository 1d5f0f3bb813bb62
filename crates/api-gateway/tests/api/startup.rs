//! The binary refuses bad configuration before binding, with one line naming the variable.

use std::process::Command;

use crate::helpers::{APP_CERT, APP_ID, closed_port};

fn run_gateway(env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_api-gateway"))
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn missing_or_malformed_credentials_stop_the_process_with_one_line() {
    let port = closed_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let secret_cert = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    for (env, variable) in [
        (vec![("AGORA_APP_CERT", APP_CERT)], "AGORA_APP_ID"),
        (vec![("AGORA_APP_ID", APP_ID)], "AGORA_APP_CERT"),
        (
            vec![("AGORA_APP_ID", "1234"), ("AGORA_APP_CERT", APP_CERT)],
            "AGORA_APP_ID",
        ),
        (
            vec![("AGORA_APP_ID", APP_ID), ("AGORA_APP_CERT", secret_cert)],
            "AGORA_APP_CERT",
        ),
        (
            vec![
                ("AGORA_APP_ID", APP_ID),
                ("AGORA_APP_CERT", APP_CERT),
                ("MEMHARBOR_TOKEN_VERSION", "5"),
            ],
            "MEMHARBOR_TOKEN_VERSION",
        ),
        // The shared secret is required, and a placeholder is no secret.
        (
            vec![("AGORA_APP_ID", APP_ID), ("AGORA_APP_CERT", APP_CERT)],
            "MEMHARBOR_SECRET_KEY",
        ),
        (
            vec![
                ("AGORA_APP_ID", APP_ID),
                ("AGORA_APP_CERT", APP_CERT),
                ("MEMHARBOR_SECRET_KEY", "change-me"),
            ],
            "MEMHARBOR_SECRET_KEY",
        ),
    ] {
        let mut env = env.clone();
        env.push(("MEMHARBOR_HTTP_ADDR", &addr));
        let out = run_gateway(&env);
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
        assert!(!stderr.contains(secret_cert), "{stderr}");
        assert!(out.stdout.is_empty());
        // Nothing was bound.
        assert!(std::net::TcpListener::bind(&addr).is_ok());
    }
}

#[test]
fn settings_come_from_dotenv_below_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("AGORA_APP_ID={APP_ID}\nAGORA_APP_CERT=bad\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_api-gateway"))
        .current_dir(dir.path())
        .env_clear()
        .env("MEMHARBOR_TOKEN_VERSION", "9")
        .output()
        .unwrap();
    // .env's App ID was read (no complaint about it); its bad certificate is reported first.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AGORA_APP_CERT"), "{stderr}");
}
