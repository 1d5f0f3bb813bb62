//! Upload benchmark: throughput to the Storage emulator (fake-gcs-server on loopback) and peak
//! memory growth, for a 1-minute and a 60-minute WAV, through the recorder's Storage client
//! (resumable, 8 MiB chunks streamed from disk, then the object's size and MD5 confirmed).
//!
//! `cargo run --release -p memharbor-testkit --example upload_bench` (part of `make bench`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memharbor_testkit::emulators;
use recorder_svc::storage::firebase::Credentials;
use recorder_svc::storage::firebase::Storage;
use recorder_svc::storage::firebase::gcs::{Endpoints, UploadStep, md5_base64};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn wav(dir: &std::path::Path, minutes: u64) -> std::path::PathBuf {
    let path = dir.join(format!("{minutes}min.wav"));
    let mut writer =
        hound::WavWriter::create(&path, recorder_svc::audio::wav::spec()).expect("wav");
    let mut x: u32 = 7;
    for _ in 0..(16_000 * 60 * minutes) {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        writer.write_sample((x >> 16) as i16).expect("sample");
    }
    writer.finalize().expect("finalize");
    path
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let gcs = emulators::fake_gcs(0).await;
    gcs.create_bucket("bench").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::new(
        reqwest::Client::new(),
        &Endpoints::emulator(&gcs.url, "unused"),
        "bench",
        8 << 20,
        Arc::new(Credentials::Emulator),
    );
    println!("upload to fake-gcs-server on loopback, 8 MiB chunks, then size + MD5 confirmed");
    for minutes in [1u64, 60] {
        let path = wav(dir.path(), minutes);
        let size = std::fs::metadata(&path).expect("size").len();
        let md5 = md5_base64(&path).await.expect("md5");
        let mut times = Vec::new();
        let mut growths = Vec::new();
        for round in 0..3 {
            let before = rss_kb();
            let peak = Arc::new(AtomicU64::new(before));
            let sampler = {
                let peak = Arc::clone(&peak);
                tokio::spawn(async move {
                    loop {
                        peak.fetch_max(rss_kb(), Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            };
            let object = format!("recordings/{minutes}-{round}.wav");
            let started = Instant::now();
            let session = storage
                .start_upload(&object, size, "t")
                .await
                .expect("session");
            let mut confirmed = 0;
            while let UploadStep::Partial { confirmed: c } = storage
                .send_chunk(&session, &path, size, confirmed)
                .await
                .expect("chunk")
            {
                confirmed = c;
            }
            let info = storage
                .object(&object)
                .await
                .expect("object")
                .expect("exists");
            let took = started.elapsed();
            sampler.abort();
            assert_eq!((info.size, info.md5.as_deref()), (size, Some(md5.as_str())));
            times.push(took);
            growths.push((peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / 1024.0);
        }
        times.sort();
        let median = times[1];
        println!(
            "  {minutes:>2} min ({:.1} MB): median {:.2} s = {:.0} MB/s; peak memory growth {:.1} MB (max of 3)",
            size as f64 / 1e6,
            median.as_secs_f64(),
            size as f64 / 1e6 / median.as_secs_f64(),
            growths.iter().copied().fold(0.0, f64::max),
        );
    }
}
