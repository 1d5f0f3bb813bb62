//! Each request's lines are appended to a buffer owned by the worker thread that served it (an
//! uncontended lock, no allocation, no cross-thread hand-off per request). A writer thread swaps
//! every buffer out each 10 ms while requests come (backing off to 200 ms when idle), writes the
//! batch and flushes once. Handlers never wait on disk;
//! a request's lines stay together, and entries from different workers interleave per batch. If the
//! writer falls far behind (a stuck disk), new entries are dropped and counted, never blocking.
//! (A channel message per request cost ~15% of the token endpoint's throughput: bench/README.md.)

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thread_local::ThreadLocal;
use time::OffsetDateTime;
use time::macros::format_description;

/// File name inside the log folder, as in the original.
pub const FILE_NAME: &str = "api.log";
/// Most request-data bytes written per request; longer bodies are cut with a marker.
const MAX_DATA_BYTES: usize = 1024;
/// How often the writer collects the buffers: the most a line waits before reaching the file.
/// Short, so that a worker's buffer stays small enough for its core's cache under full load
/// (≈ 0.2 MB at 65 k req/s per worker, against ≈ 1 MB at the earlier 50 ms; bench/README.md).
const BATCH_INTERVAL: Duration = Duration::from_millis(10);
/// While sweeps find nothing the interval doubles up to this, so an idle gateway's writer wakes
/// 5 times a second instead of 100; the first sweep that finds lines returns it to
/// [`BATCH_INTERVAL`].
const IDLE_INTERVAL: Duration = Duration::from_millis(200);
/// Emptied entry buffers kept per worker thread for reuse, so an entry costs no allocation.
const SPARE_ENTRIES: usize = 64;
/// Largest spare buffer kept: a usual entry is ≈ 330 bytes.
const SPARE_MAX_BYTES: usize = 2048;
/// A worker's buffer never grows past this (≈ 30,000 entries); beyond it entries are dropped.
const MAX_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// One worker thread's pending lines.
#[derive(Debug, Default)]
struct Shard {
    pending: Mutex<String>,
}

#[derive(Debug)]
struct Shared {
    shards: ThreadLocal<Shard>,
    dropped: AtomicUsize,
    stop: AtomicBool,
}

/// Handle to the request log; cheap to clone into every worker.
#[derive(Clone, Debug)]
pub struct ApiLog {
    shared: Arc<Shared>,
}

/// Owns the writer thread; dropping it writes out what is pending and joins the thread.
#[derive(Debug)]
pub struct ApiLogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ApiLogGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// When `api.log` is rotated, as Python's `RotatingFileHandler` does: past `max_bytes` it becomes
/// `api.log.1` (the older ones shift to `.2` … `.{keep}`, the oldest is dropped) and a new
/// `api.log` begins. `max_bytes == 0` never rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// The open log file and how much it holds.
struct LogFile {
    dir: std::path::PathBuf,
    rotation: Rotation,
    out: BufWriter<File>,
    size: u64,
}

impl LogFile {
    fn open(dir: &Path, rotation: Rotation) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(FILE_NAME))?;
        let size = file.metadata()?.len();
        Ok(Self {
            dir: dir.to_owned(),
            rotation,
            out: BufWriter::with_capacity(256 * 1024, file),
            size,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> bool {
        let ok = self.out.write_all(bytes).is_ok();
        self.size += bytes.len() as u64;
        ok
    }

    /// Flushes, and rotates if the file has grown past its bound.
    fn flush(&mut self) {
        let _ = self.out.flush();
        if self.rotation.max_bytes > 0
            && self.size >= self.rotation.max_bytes
            && let Err(e) = self.rotate()
        {
            tracing::warn!(error = %e, "cannot rotate api.log; it keeps growing");
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = |n: u32| self.dir.join(format!("{FILE_NAME}.{n}"));
        let keep = self.rotation.keep;
        if keep == 0 {
            fs::remove_file(self.dir.join(FILE_NAME))?;
        } else {
            let _ = fs::remove_file(name(keep));
            for n in (1..keep).rev() {
                let _ = fs::rename(name(n), name(n + 1));
            }
            fs::rename(self.dir.join(FILE_NAME), name(1))?;
        }
        *self = Self::open(&self.dir, self.rotation)?;
        Ok(())
    }
}

impl ApiLog {
    /// Opens (appends to) `dir/api.log`, creating `dir` if needed, and starts the writer thread.
    pub fn open(dir: &Path, rotation: Rotation) -> io::Result<(ApiLog, ApiLogGuard)> {
        fs::create_dir_all(dir)?;
        let file = LogFile::open(dir, rotation)?;
        let shared = Arc::new(Shared {
            shards: ThreadLocal::new(),
            dropped: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let writer_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("api-log-writer".into())
            .spawn(move || write_batches(&writer_shared, file))?;
        let guard = ApiLogGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        Ok((ApiLog { shared }, guard))
    }

    /// Starts a request's entry, tagged like the original (`TOKEN`, `START`, …).
    /// The entry's lines share one timestamp, taken here.
    pub fn entry(&self, tag: &'static str) -> Entry {
        Entry::new(tag)
    }

    /// Appends a finished entry to this thread's buffer; never blocks on disk.
    pub fn commit(&self, entry: Entry) {
        let shard = self.shared.shards.get_or_default();
        let mut pending = shard.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let text = entry.as_str();
        if pending.len() + text.len() > MAX_BUFFER_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.push_str(text);
        }
        drop(pending);
        let mut buf = entry.buf;
        buf.clear();
        SPARE.with_borrow_mut(|spare| {
            // A buffer grown by an unusual entry (long escaped request data) is not kept.
            if buf.capacity() <= SPARE_MAX_BYTES && spare.len() < SPARE_ENTRIES {
                spare.push(buf);
            }
        });
    }

    /// Entries dropped because the writer fell behind.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: every [`BATCH_INTERVAL`] (up to [`IDLE_INTERVAL`] when idle), swap out
/// each worker's buffer, write, flush once.
fn write_batches(shared: &Shared, mut out: LogFile) {
    let mut batch = String::new();
    let mut interval = BATCH_INTERVAL;
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        let mut found = false;
        let mut wrote = false;
        for shard in shared.shards.iter() {
            batch.clear();
            std::mem::swap(
                &mut batch,
                &mut *shard.pending.lock().unwrap_or_else(PoisonError::into_inner),
            );
            if !batch.is_empty() {
                found = true;
                wrote |= out.write(batch.as_bytes());
            }
        }
        if wrote {
            out.flush();
        }
        if stopping {
            return;
        }
        interval = if found {
            BATCH_INTERVAL
        } else {
            (interval * 2).min(IDLE_INTERVAL)
        };
        std::thread::park_timeout(interval);
    }
}

/// Python logging's level names, as the original wrote them.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// One request's lines, written together.
#[derive(Debug)]
pub struct Entry {
    buf: String,
    /// `[YYYY-MM-DD HH:MM:SS] ` … up to and including `[TAG] `, shared by every line.
    prefix_end: usize,
    tag: &'static str,
}

impl Entry {
    fn new(tag: &'static str) -> Self {
        let mut buf = SPARE
            .with_borrow_mut(Vec::pop)
            .unwrap_or_else(|| String::with_capacity(384));
        with_timestamp(|ts| buf.push_str(ts));
        let prefix_end = buf.len();
        Entry {
            buf,
            prefix_end,
            tag,
        }
    }

    fn start_line(&mut self, level: Level) {
        if self.buf.len() > self.prefix_end {
            self.buf.extend_from_within(..self.prefix_end);
        }
        self.buf.push(' ');
        self.buf.push_str(level.as_str());
        self.buf.push_str(" api [");
        self.buf.push_str(self.tag);
        self.buf.push_str("] ");
    }

    pub fn line(&mut self, level: Level, message: std::fmt::Arguments<'_>) {
        self.line_with(level, |out| match message.as_str() {
            Some(text) => out.push_str(text),
            None => {
                let _ = out.write_fmt(message);
            }
        });
    }

    /// A line whose message `write` appends: for the lines written on every request, which
    /// `format_args!` would make measurably slower.
    pub fn line_with(&mut self, level: Level, write: impl FnOnce(&mut String)) {
        self.start_line(level);
        write(&mut self.buf);
        self.buf.push('\n');
    }

    /// `Request data: …` with the body as received, control characters escaped, cut at 1 KiB.
    pub fn request_data(&mut self, body: &[u8]) {
        self.start_line(Level::Info);
        self.buf.push_str("Request data: ");
        push_escaped(&mut self.buf, body);
        self.buf.push('\n');
    }

    /// The entry's text, as it will be written.
    pub fn as_str(&self) -> &str {
        if self.buf.len() == self.prefix_end {
            ""
        } else {
            &self.buf
        }
    }
}

/// Appends `bytes` as one safe line: printable text kept, control characters and invalid UTF-8 escaped.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    let cut = bytes.len() > MAX_DATA_BYTES;
    let bytes = &bytes[..bytes.len().min(MAX_DATA_BYTES)];
    if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        // Printable ASCII (nearly every request): nothing to escape.
        out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
    } else {
        push_escaped_slow(out, bytes);
    }
    if cut {
        out.push_str("… (cut)");
    }
}

fn push_escaped_slow(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

thread_local! {
    static TIMESTAMP: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    static SPARE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// `[YYYY-MM-DD HH:MM:SS]` in UTC, formatted at most once per second per thread.
fn with_timestamp(f: impl FnOnce(&str)) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    TIMESTAMP.with_borrow_mut(|(secs, text)| {
        if *secs != now {
            *secs = now;
            text.clear();
            let when = OffsetDateTime::from_unix_timestamp(now as i64)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let formatted = when
                .format(format_description!(
                    "[[[year]-[month]-[day] [hour]:[minute]:[second]]"
                ))
                .unwrap_or_default();
            text.push_str(&formatted);
        }
        f(text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_the_originals() {
        let mut entry = Entry::new("TOKEN");
        entry.line(Level::Info, format_args!("POST from {}", "172.19.0.5"));
        entry.request_data(b"{\"channel\": \"a\nb\", \"x\": \"\x01\xff\"}");
        let lines: Vec<_> = entry.as_str().lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with('[')
                && lines[0].ends_with("] INFO api [TOKEN] POST from 172.19.0.5")
        );
        assert_eq!(lines[0].find(']'), Some(20));
        assert!(
            lines[1].ends_with(r#"Request data: {"channel": "a\nb", "x": "\u{1}\xff"}"#),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn the_log_rotates_past_its_bound_and_keeps_that_many_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 2,
        };
        {
            let (log, _guard) = ApiLog::open(dir.path(), rotation).unwrap();
            for _ in 0..12 {
                let mut entry = log.entry("TOKEN");
                entry.line(Level::Info, format_args!("{}", "x".repeat(200)));
                log.commit(entry);
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        let size = |name: &str| fs::metadata(dir.path().join(name)).map(|m| m.len());
        assert!(size("api.log.1").unwrap() >= 1000);
        assert!(size("api.log.2").unwrap() >= 1000);
        assert!(size("api.log.3").is_err(), "only `keep` old files stay");
        assert!(size("api.log").unwrap() < 2000);
    }

    #[test]
    fn long_bodies_are_cut() {
        let mut out = String::new();
        push_escaped(&mut out, &[b'a'; 5000]);
        assert!(out.len() < 1100 && out.ends_with("(cut)"));
    }
}
