//! The cluster's shared state, in Firestore (which every Firebase deployment of ours already has):
//! which recorders are alive and how full they are, which session owns each channel, and where
//! each session lives. Placement, routing and leases are built on this narrow interface, so
//! another engine (NATS JetStream, Redis) could replace Firestore here without touching the
//! services.
//!
//! - `memharbor_recorders/{id}`: one document per recorder, rewritten every few seconds (its
//!   heartbeat: address, incarnation, capacity, sessions in use, draining, its sessions, the
//!   server's time). Never one write per session per beat. Liveness compares the heartbeat's
//!   server time with the read time of the query that fetched it — Firestore's clock on both
//!   sides, never a local one, and never TTL (which lags by up to a day).
//! - `memharbor_channels/{channel}`: the claim. Created if absent (`exists=false`), changed only
//!   by compare-and-set on its update time; its `fencing` number grows with every new claim of
//!   the channel, so an owner that lost its claim can always be told apart from the current one.
//! - `memharbor_sessions/{sid}`: where a session lives (recorder, channel, fencing, its files'
//!   stem), for routing by sid and by file name, also after the session ended.

mod claims;
mod members;
mod sessions;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memharbor_google::GoogleError;
use memharbor_google::firestore::Firestore;
use serde_json::{Map, Value};

pub use claims::{ChannelClaim, Claim, Retired, Takeover};
pub use members::{Beat, HeldSession, Member, MemberView, Members};
pub use sessions::{RecordingParams, SegmentRef, SessionRoute};

const RECORDERS: &str = "memharbor_recorders";
const CHANNELS: &str = "memharbor_channels";
const SESSIONS: &str = "memharbor_sessions";

/// The directory cannot be used right now (Firestore unreachable or refusing): nobody can
/// claim or take over until it returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the directory is unavailable: {0}")]
pub struct Unavailable(pub String);

impl From<GoogleError> for Unavailable {
    fn from(e: GoogleError) -> Self {
        Unavailable(e.to_string())
    }
}

/// What the directory has cost so far (what an operator pays Firestore for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub reads: u64,
    pub writes: u64,
}

/// The cluster's directory.
#[derive(Debug)]
pub struct Directory {
    firestore: Firestore,
    /// A heartbeat older than this is stale: its recorder is not live.
    stale_after: Duration,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Directory {
    pub fn new(firestore: Firestore, stale_after: Duration) -> Self {
        Self {
            firestore,
            stale_after,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Documents read and written so far (a query's documents count as reads, at least one).
    pub fn usage(&self) -> Usage {
        Usage {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    fn count_reads(&self, n: usize) {
        self.reads.fetch_add(n.max(1) as u64, Ordering::Relaxed);
    }

    fn count_writes(&self, n: usize) {
        self.writes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn text(fields: &Map<String, Value>, key: &str) -> String {
    fields
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn number(fields: &Map<String, Value>, key: &str) -> u64 {
    fields.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Whether `id` can name a document as is (no path tricks, nothing to escape). Channels and
/// sids always can; anything else names no document.
fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id != "."
        && id != ".."
        && !id.starts_with("__")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'))
}

/// The last part of a document path (its id).
fn id_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}
