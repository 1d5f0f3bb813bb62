//! The JSON messages between the recorder page (`web/recorder/recorder.js`) and its session. Audio travels
//! on the same WebSocket as binary chunks (`audio::protocol`).

use serde::{Deserialize, Serialize};

pub use crate::record::Uid;

/// What the page says.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum FromPage {
    /// The page is up; its capture worker mixes at `sample_rate`.
    Hello {
        sample_rate: f64,
    },
    Joined,
    JoinFailed {
        #[serde(default)]
        code: Option<String>,
        message: String,
    },
    /// Capture started: timeline `frame` of this page is the wall-clock instant `wall_ms` (Unix ms).
    TapStarted {
        frame: u64,
        wall_ms: f64,
    },
    UserJoined {
        uid: Uid,
    },
    UserLeft {
        uid: Uid,
        #[serde(default)]
        reason: Option<String>,
    },
    UserPublished {
        uid: Uid,
        media: String,
    },
    UserUnpublished {
        uid: Uid,
        media: String,
    },
    Subscribed {
        uid: Uid,
    },
    SubscribeFailed {
        uid: Uid,
        message: String,
    },
    ConnectionState {
        state: String,
        #[serde(default)]
        prev: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    TokenWillExpire,
    TokenDidExpire,
    TokenRenewed,
    TokenRenewFailed {
        message: String,
    },
    Exception {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<String>,
    },
    /// The capture worker flushed its last audio (sent before this message).
    Stopped,
    Left,
    /// Each remote user's current level (0–1 RMS), every half second.
    Levels {
        levels: std::collections::BTreeMap<String, f32>,
    },
    Log {
        level: String,
        message: String,
    },
    /// A track's frames came later than its cushion: `frames` (48 kHz) of silence were played
    /// while waiting, and that track is heard that much later from then on (nothing is dropped).
    LateAudio {
        #[serde(default)]
        uid: serde_json::Value,
        frames: u64,
    },
}

/// What the session tells the page.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ToPage {
    Join {
        app_id: String,
        channel: String,
        token: String,
        uid: u32,
        mode: crate::settings::ChannelMode,
        role: crate::settings::ClientRole,
        speakers: bool,
        /// How long the capture worker waits for late frames (`RECORDER_AUDIO_CUSHION_MS`).
        cushion_ms: u32,
    },
    RenewToken {
        token: String,
    },
    /// A drill: block the capture worker for `ms`.
    StallCapture {
        ms: u32,
    },
    Stop,
    Leave,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_parse() {
        let m: FromPage =
            serde_json::from_str(r#"{"type":"tap-started","frame":12,"wallMs":1.5e12}"#).unwrap();
        assert!(matches!(m, FromPage::TapStarted { frame: 12, .. }));
        let m: FromPage =
            serde_json::from_str(r#"{"type":"late-audio","uid":7,"frames":480}"#).unwrap();
        assert!(matches!(m, FromPage::LateAudio { frames: 480, .. }));
        let m: FromPage = serde_json::from_str(r#"{"type":"user-left","uid":"alice"}"#).unwrap();
        assert!(matches!(
            m,
            FromPage::UserLeft {
                uid: Uid::Str(_),
                reason: None
            }
        ));
        let out = serde_json::to_string(&ToPage::RenewToken { token: "t".into() }).unwrap();
        assert_eq!(out, r#"{"type":"renew-token","token":"t"}"#);
    }
}
