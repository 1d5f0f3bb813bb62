//! What a webhook event is: its type, its once-only key, and the Standard Webhooks body
//! `{"type", "timestamp", "data"}` (with the session's `sid` and the event's `seq` in `data`).

use memharbor_shared::internal_api::time_format;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

/// The events a receiver hears, per session in this order (participants in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Started,
    ParticipantJoined,
    ParticipantLeft,
    Stopped,
    Uploaded,
    Failed,
    /// Cluster mode: another recorder continues the session (failover, hand-over).
    Continued,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Started => "recording.started",
            Self::ParticipantJoined => "recording.participant_joined",
            Self::ParticipantLeft => "recording.participant_left",
            Self::Stopped => "recording.stopped",
            Self::Uploaded => "recording.uploaded",
            Self::Failed => "recording.failed",
            Self::Continued => "recording.continued",
        }
    }

    /// Events that happen once per session (per failed stage) are emitted once however often
    /// the code that reports them runs again (a repaired stop, a retried upload, a restart).
    pub fn once_key(self, data: &Value) -> Option<String> {
        match self {
            Self::ParticipantJoined | Self::ParticipantLeft => None,
            Self::Failed => Some(format!(
                "{}.{}",
                self.name(),
                data["stage"].as_str().unwrap_or("unknown")
            )),
            Self::Continued => Some(format!("{}.{}", self.name(), data["fencing"])),
            _ => Some(self.name().to_owned()),
        }
    }
}

/// The message id: the same on every attempt. A once-only event's id is fixed by what it is,
/// so even a re-emission after a crash carries the id the receiver may have seen.
pub fn message_id(sid: Uuid, seq: u64, once: Option<&str>) -> String {
    match once {
        Some(key) => format!("msg_{}_{}", sid.simple(), key.replace('.', "_")),
        None => format!("msg_{}_{seq}", sid.simple()),
    }
}

/// The body sent (and signed): `data` gains `sid` and `seq`.
pub fn body(kind: EventType, sid: Uuid, seq: u64, mut data: Value, at: OffsetDateTime) -> String {
    if let Value::Object(map) = &mut data {
        map.insert("sid".into(), json!(sid));
        map.insert("seq".into(), json!(seq));
    }
    json!({
        "type": kind.name(),
        "timestamp": time_format::iso_ms(at),
        "data": data,
    })
    .to_string()
}
