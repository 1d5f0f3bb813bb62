//! Cloud Storage for Firebase through the GCS JSON API: resumable, chunked uploads streamed from
//! disk (memory does not grow with the file), resumed from the last confirmed byte, confirmed by
//! size and MD5; the Firebase download URL built from bucket, path and download token.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::{FirebaseError, http_error, transport_error};
use memharbor_google::Credentials;

/// Where the APIs live: Google's, or the emulators'.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// GCS JSON API base (uploads at `{storage}/upload/storage/v1`, metadata at `{storage}/storage/v1`).
    pub storage: String,
    /// Base of Firebase download URLs (`{download}/v0/b/{bucket}/o/{object}?alt=media&token=…`).
    pub download: String,
    /// Firestore REST base (`{firestore}/v1/projects/…`).
    pub firestore: String,
}

impl Endpoints {
    pub fn production() -> Self {
        Self {
            storage: "https://storage.googleapis.com".into(),
            download: "https://firebasestorage.googleapis.com".into(),
            firestore: "https://firestore.googleapis.com".into(),
        }
    }

    pub fn emulator(storage: &str, firestore: &str) -> Self {
        Self {
            storage: storage.to_owned(),
            download: storage.to_owned(),
            firestore: firestore.to_owned(),
        }
    }
}

/// Percent-encodes an object name as one URL path segment (`/` included).
pub fn encode_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// An object as Storage describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectInfo {
    #[serde(deserialize_with = "string_u64")]
    pub size: u64,
    #[serde(rename = "md5Hash", default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub metadata: Option<std::collections::HashMap<String, String>>,
}

fn string_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// How far an upload got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStep {
    /// The server has bytes `0..confirmed`; continue from there.
    Partial { confirmed: u64 },
    /// The object exists.
    Done,
}

#[derive(Debug)]
pub struct Storage {
    http: reqwest::Client,
    endpoints: Endpoints,
    bucket: String,
    chunk: u64,
    credentials: Arc<Credentials>,
}

/// Storage's upload granularity: every chunk but the last is a multiple of it.
const QUANTUM: u64 = 256 * 1024;

impl Storage {
    pub fn new(
        http: reqwest::Client,
        endpoints: &Endpoints,
        bucket: &str,
        chunk: u64,
        credentials: Arc<Credentials>,
    ) -> Self {
        Self {
            http,
            endpoints: endpoints.clone(),
            bucket: bucket.to_owned(),
            chunk: (chunk / QUANTUM).max(1) * QUANTUM,
            credentials,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The Firebase download URL of `object` with its download `token`.
    pub fn download_url(&self, object: &str, token: &str) -> String {
        format!(
            "{}/v0/b/{}/o/{}?alt=media&token={token}",
            self.endpoints.download,
            self.bucket,
            encode_segment(object)
        )
    }

    /// Opens a resumable upload of `size` bytes; returns the session URI.
    pub async fn start_upload(
        &self,
        object: &str,
        size: u64,
        download_token: &str,
    ) -> Result<String, FirebaseError> {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable&name={}",
            self.endpoints.storage,
            self.bucket,
            encode_segment(object)
        );
        let metadata = serde_json::json!({
            "name": object,
            "contentType": "audio/wav",
            "metadata": {"firebaseStorageDownloadTokens": download_token},
        });
        let response = self
            .http
            .post(url)
            .header("authorization", self.credentials.bearer().await?)
            .header("x-upload-content-type", "audio/wav")
            .header("x-upload-content-length", size)
            .timeout(Duration::from_secs(30))
            .json(&metadata)
            .send()
            .await
            .map_err(|e| transport_error("starting the upload", &e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(http_error(
                &format!("starting the upload to bucket {}", self.bucket),
                status,
                &body,
            ));
        }
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                FirebaseError::Transient(
                    "Storage opened no upload session (no Location header)".into(),
                )
            })
    }

    /// Sends the next chunk of `path` (from byte `from`, which the server has confirmed) to the
    /// session. The chunk is streamed from the file, never held in memory.
    pub async fn send_chunk(
        &self,
        session: &str,
        path: &Path,
        size: u64,
        from: u64,
    ) -> Result<UploadStep, FirebaseError> {
        // A server that reports more than the file (or a resume at the very end) must neither
        // underflow this nor send an invalid range: `bytes */size` asks it to finish instead.
        let from = from.min(size);
        let len = self.chunk.min(size - from);
        let mut file = tokio::fs::File::open(path).await.map_err(|e| {
            FirebaseError::Permanent(format!("cannot read {}: {e}", path.display()))
        })?;
        file.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| {
                FirebaseError::Permanent(format!("cannot read {}: {e}", path.display()))
            })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file.take(len),
            64 * 1024,
        ));
        let range = content_range(from, len, size);
        let response = self
            .http
            .put(session)
            .header("authorization", self.credentials.bearer().await?)
            .header("content-type", "audio/wav")
            .header("content-length", len)
            .header("content-range", range)
            .timeout(Duration::from_secs(300))
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("uploading", &e))?;
        let status = response.status();
        match status.as_u16() {
            200 | 201 => Ok(UploadStep::Done),
            308 => Ok(UploadStep::Partial {
                confirmed: confirmed_bytes(
                    response
                        .headers()
                        .get("range")
                        .and_then(|v| v.to_str().ok()),
                    size,
                ),
            }),
            404 | 410 => Err(FirebaseError::SessionGone(format!(
                "the upload session expired ({status})"
            ))),
            _ => {
                let body = response.text().await.unwrap_or_default();
                Err(http_error("uploading", status, &body))
            }
        }
    }

    /// The object's size, MD5 and metadata, or `None` if it does not exist.
    pub async fn object(&self, object: &str) -> Result<Option<ObjectInfo>, FirebaseError> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.endpoints.storage,
            self.bucket,
            encode_segment(object)
        );
        let response = self
            .http
            .get(url)
            .header("authorization", self.credentials.bearer().await?)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| transport_error("checking the uploaded object", &e))?;
        match response.status().as_u16() {
            200 => response.json::<ObjectInfo>().await.map(Some).map_err(|e| {
                FirebaseError::Transient(format!("Storage described the object oddly: {e}"))
            }),
            404 => Ok(None),
            _ => {
                let status = response.status();
                Err(http_error(
                    "checking the uploaded object",
                    status,
                    &response.text().await.unwrap_or_default(),
                ))
            }
        }
    }
}

/// Base64 MD5 of a file, as Storage reports `md5Hash`; read in 1 MiB blocks.
pub async fn md5_base64(path: &Path) -> std::io::Result<String> {
    use md5::Digest as _;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(STANDARD.encode(hasher.finalize()))
}

/// `Content-Range` for `len` bytes from `from` of a `size`-byte file; with nothing left to send,
/// `bytes */size`, which asks Storage to finish (or say what it has).
fn content_range(from: u64, len: u64, size: u64) -> String {
    if len == 0 {
        format!("bytes */{size}")
    } else {
        format!("bytes {from}-{}/{size}", from + len - 1)
    }
}

/// How many bytes a 308's `Range: bytes=0-N` confirms (N + 1), never more than the file.
fn confirmed_bytes(range: Option<&str>, size: u64) -> u64 {
    range
        .and_then(|r| r.rsplit('-').next())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map_or(0, |last| last.saturating_add(1))
        .min(size)
}

#[cfg(test)]
mod tests {

    #[test]
    fn resume_offsets_never_pass_the_file_nor_make_an_invalid_range() {
        assert_eq!(confirmed_bytes(Some("bytes=0-99"), 1000), 100);
        assert_eq!(confirmed_bytes(Some("bytes=0-99"), 50), 50);
        assert_eq!(confirmed_bytes(Some("bytes=0-18446744073709551615"), 7), 7);
        assert_eq!(confirmed_bytes(Some("garbage"), 7), 0);
        assert_eq!(confirmed_bytes(None, 7), 0);
        assert_eq!(content_range(0, 10, 10), "bytes 0-9/10");
        assert_eq!(content_range(10, 0, 10), "bytes */10");
        assert_eq!(content_range(0, 0, 0), "bytes */0");
    }
    use super::*;

    #[test]
    fn download_urls_are_firebase_urls() {
        let storage = Storage::new(
            reqwest::Client::new(),
            &Endpoints::production(),
            "proj.appspot.com",
            8 << 20,
            Arc::new(Credentials::Emulator),
        );
        assert_eq!(
            storage.download_url("recordings/g_a@x.org_b-1_2026-02-03T12-00-00.wav", "tok"),
            "https://firebasestorage.googleapis.com/v0/b/proj.appspot.com/o/recordings%2Fg_a%40x.org_b-1_2026-02-03T12-00-00.wav?alt=media&token=tok"
        );
        let emulated = Storage::new(
            reqwest::Client::new(),
            &Endpoints::emulator("http://127.0.0.1:9199", "x"),
            "b",
            1,
            Arc::new(Credentials::Emulator),
        );
        assert_eq!(
            emulated.download_url("recordings/a.wav", "t"),
            "http://127.0.0.1:9199/v0/b/b/o/recordings%2Fa.wav?alt=media&token=t"
        );
        assert_eq!(emulated.chunk, QUANTUM);
    }
}
