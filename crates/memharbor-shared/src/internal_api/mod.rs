//! The recorder's internal API as both services speak it: its paths, what the gateway sends, and
//! what the recorder answers (which the gateway relays to clients as the public API's bodies).
//! Both ends use these types, so a renamed field is a compile error, not a 502 at run time.

mod answers;
mod requests;
pub mod time_format;

pub use answers::{
    Assembly, AssemblyState, AudioSpec, FirebaseLocation, LocalLocation, RecordingItem,
    RecordingList, SPEC, SegmentSummary, SessionAnswer, SessionList, SessionStatus, SpeakerFile,
    StartAnswer, StopAnswer, StopReason, Uid, UploadPhase, UploadState, UploadStatus,
};
pub use requests::{
    BotToken, BotTokenRequest, ForUser, Given, StartRequest, StopRequest, StopRuleError, StopTarget,
};

/// `POST` start / `GET` the sessions in progress.
pub const SESSIONS: &str = "/internal/sessions";
/// `POST` stop.
pub const STOP: &str = "/internal/sessions/stop";
/// `GET` the saved recordings (the list's query string passed on).
pub const RECORDINGS: &str = "/internal/recordings";
/// `GET` an authenticated no-op: the gateway's health check.
pub const PING: &str = "/internal/ping";
/// The gateway's route the recorder calls for a fresh bot token.
pub const BOT_TOKEN: &str = "/internal/bot-token";

/// Between recorders: `GET` a segment's description (`…/{sid}/{fencing}`), `GET` one of its
/// files (`…/{sid}/{fencing}/{file}`), `DELETE` it once the assembled recording is safe.
pub const SEGMENTS: &str = "/internal/segments";
/// Between recorders: `POST` a draining recorder asks another to continue one of its sessions.
pub const HANDOVER: &str = "/internal/handover";

/// `GET` one session, active or finished.
pub fn session(sid: &str) -> String {
    format!("{SESSIONS}/{sid}")
}

/// `GET` a recording's file.
pub fn file(filename: &str) -> String {
    format!("/internal/files/{filename}")
}
