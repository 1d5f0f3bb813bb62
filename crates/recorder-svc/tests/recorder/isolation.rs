//! What Chromium can reach and what can reach it: no secret of the recorder's in its
//! environment, no DevTools port for other processes, and none of the audio copied over DevTools.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{self, TestRecorder, everywhere, free_port, metric, tone};
use crate::process::{signal, start_process_with, wait_live};

/// Every process of the browser with process group `pgid` (Chromium and its renderers).
fn group_members(pgid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .arg("-g")
        .arg(pgid.to_string())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Inodes of the TCP sockets listening on this machine.
fn listening_inodes() -> BTreeSet<String> {
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3) == Some(&"0A") {
                inodes.insert(cols[9].to_owned());
            }
        }
    }
    inodes
}

/// How many listening TCP sockets process `pid` holds.
fn listening_sockets_of(pid: u32, listening: &BTreeSet<String>) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|target| {
                    let t = target.to_string_lossy().into_owned();
                    t.strip_prefix("socket:[")?
                        .strip_suffix(']')
                        .map(str::to_owned)
                })
                .filter(|inode| listening.contains(inode))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_gets_no_secret_no_devtools_port_and_no_copy_of_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    let sdk = helpers::standin_sdk(dir.path(), &everywhere(vec![tone(1001, 440, 0, 60_000)]));
    let port = free_port();
    // Secrets an operator's env file holds (compose used to hand both services the same file).
    let secrets = [
        ("AGORA_APP_CERT", "5CFd2fd1755d40ecb72977518be15d3b"),
        (
            "FIREBASE_SERVICE_ACCOUNT",
            "{\"private_key\":\"SERVICE-ACCOUNT-SECRET\"}",
        ),
        ("MEMHARBOR_API_KEYS", "api-key-secret-value"),
    ];
    let env: Vec<(&str, String)> = secrets.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let mut child = start_process_with(&dir, &recordings, port, &sdk, &env);
    let rec = TestRecorder {
        url: format!("http://127.0.0.1:{port}"),
        http: helpers::client(),
        dir,
        recordings,
    };
    wait_live(&rec.url).await;
    let started = rec.start("g1_isolated_bot", false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = metric(&rec.metrics().await, "memharbor_recorder_cdp_bytes_total ").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during =
        metric(&rec.metrics().await, "memharbor_recorder_cdp_bytes_total ").unwrap() - before;

    let (_, status) = rec.get("/status").await;
    let browser = status["browsers"]["browsers"][0]["pid"].as_u64().unwrap() as u32;
    let members = group_members(browser);
    assert!(
        members.len() >= 2,
        "Chromium and its renderers: {members:?}"
    );
    let listening = listening_inodes();
    for pid in &members {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        let all = secrets
            .iter()
            .copied()
            .chain([("MEMHARBOR_SECRET_KEY", helpers::SECRET)]);
        for (name, value) in all {
            assert!(
                !environ.contains(name) && !environ.contains(value),
                "{pid} has {name}"
            );
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(!cmdline.contains("remote-debugging-port"), "{cmdline}");
        assert!(!cmdline.contains(helpers::SECRET), "{cmdline}");
        assert_eq!(
            listening_sockets_of(*pid, &listening),
            0,
            "Chromium {pid} listens"
        );
    }
    // The recorder listens on its API and its loopback page server, nothing more: the DevTools
    // bridge closed its listener once chromiumoxide was connected.
    assert_eq!(listening_sockets_of(child.id(), &listening), 2);
    // Three seconds of audio (≈ 800 KB of WebSocket frames) cross no DevTools message.
    assert!(
        during < 20_000.0,
        "{during} bytes of DevTools traffic while recording"
    );

    let (code, _) = rec.stop(json!({"sid": started.body["sid"]})).await;
    assert_eq!(code, 200);
    signal(&child, "KILL");
    let _ = child.wait();
}
