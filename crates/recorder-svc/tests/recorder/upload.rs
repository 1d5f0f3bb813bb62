//! Large files: a 60-minute WAV (≈ 115 MB) goes up in chunks streamed from disk (memory does not
//! grow with the file), and an interrupted upload resumes where Storage confirmed, not from zero.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memharbor_testkit::emulators;
use recorder_svc::storage::firebase::Credentials;
use recorder_svc::storage::firebase::Storage;
use recorder_svc::storage::firebase::gcs::{Endpoints, UploadStep, md5_base64};

const BUCKET: &str = "big";
const CHUNK: u64 = 8 << 20;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
        })
        .unwrap()
}

/// A 60-minute 16 kHz s16 WAV of noise (so every chunk differs and MD5 means something).
fn sixty_minutes(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("hour.wav");
    let mut writer = hound::WavWriter::create(&path, recorder_svc::audio::wav::spec()).unwrap();
    let mut x: u32 = 12345;
    for _ in 0..(16_000u64 * 3600) {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        writer.write_sample((x >> 16) as i16).unwrap();
    }
    writer.finalize().unwrap();
    path
}

async fn upload(
    storage: &Storage,
    session: &str,
    path: &std::path::Path,
    size: u64,
    from: u64,
    max_chunks: usize,
) -> (u64, u64, bool) {
    let (mut confirmed, mut sent) = (from, 0);
    for _ in 0..max_chunks {
        match storage
            .send_chunk(session, path, size, confirmed)
            .await
            .unwrap()
        {
            UploadStep::Partial { confirmed: c } => {
                sent += c - confirmed;
                confirmed = c;
            }
            UploadStep::Done => return (size, sent + (size - confirmed), true),
        }
    }
    (confirmed, sent, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_uploads_in_chunks_with_flat_memory_and_an_interrupted_upload_resumes() {
    let gcs = emulators::fake_gcs(0).await;
    gcs.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let path = sixty_minutes(dir.path());
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 115_000_000);
    let md5 = md5_base64(&path).await.unwrap();
    let storage = Storage::new(
        reqwest::Client::new(),
        &Endpoints::emulator(&gcs.url, "unused"),
        BUCKET,
        CHUNK,
        Arc::new(Credentials::Emulator),
    );

    // Whole upload, watching this process's memory.
    let before = rss_kb();
    let peak = Arc::new(AtomicU64::new(before));
    let watch = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let session = storage
        .start_upload("recordings/hour.wav", size, "tok")
        .await
        .unwrap();
    let (_, _, done) = upload(&storage, &session, &path, size, 0, 1000).await;
    watch.abort();
    assert!(done);
    let growth_mb = (peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / 1024.0;
    assert!(
        growth_mb < 20.0,
        "memory grew {growth_mb:.1} MB while uploading {size} bytes"
    );
    let object = storage
        .object("recordings/hour.wav")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (object.size, object.md5.as_deref()),
        (size, Some(md5.as_str()))
    );

    // Interrupted after three chunks (the process "dies"), then resumed by a new client from the
    // offset Storage confirmed, as a restarted recorder does with its persisted job.
    let session = storage
        .start_upload("recordings/again.wav", size, "tok2")
        .await
        .unwrap();
    let (confirmed, _, done) = upload(&storage, &session, &path, size, 0, 3).await;
    assert!(!done);
    assert_eq!(confirmed, 3 * CHUNK);
    let fresh = Storage::new(
        reqwest::Client::new(),
        &Endpoints::emulator(&gcs.url, "unused"),
        BUCKET,
        CHUNK,
        Arc::new(Credentials::Emulator),
    );
    let (_, sent, done) = upload(&fresh, &session, &path, size, confirmed, 1000).await;
    assert!(done);
    assert_eq!(
        sent,
        size - 3 * CHUNK,
        "the resumed upload sent only what was missing"
    );
    let object = fresh.object("recordings/again.wav").await.unwrap().unwrap();
    assert_eq!(
        (object.size, object.md5.as_deref()),
        (size, Some(md5.as_str()))
    );
    let _ = std::io::stdout().flush();
}
