//! What the gateway sends the recorder (and the recorder the gateway), and the one rule for which
//! session a stop is for.

use serde::{Deserialize, Serialize};

/// `POST /internal/sessions`: record `channel`. The gateway has validated it and minted the bot's
/// token (the recorder never holds the App Certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    pub channel: String,
    /// Also one file per remote speaker.
    #[serde(default)]
    pub speakers: bool,
    pub app_id: String,
    pub token: String,
    /// The bot's Agora uid (`RECORDER_UID`).
    pub uid: u32,
}

/// `POST /internal/sessions/stop`: exactly one of `sid`, `channel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// A stop request's field as the rule sees it, whatever JSON library read it (`null` = absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given<'a> {
    Absent,
    Text(&'a str),
    /// Present, but not a string.
    Other,
}

/// Which session a stop is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopTarget {
    /// As the client sent it (the recorder answers 404 for one that is not a sid it knows).
    Sid(String),
    Channel(String),
}

/// Why a stop request names no session: a 400 with this code, field and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRuleError {
    pub code: &'static str,
    pub field: &'static str,
    pub message: &'static str,
}

impl StopTarget {
    /// The rule, in one place for both services: exactly one of `sid` and `channel`, a string.
    pub fn from_fields(sid: Given<'_>, channel: Given<'_>) -> Result<Self, StopRuleError> {
        let error = |code, field, message| {
            Err(StopRuleError {
                code,
                field,
                message,
            })
        };
        match (sid, channel) {
            (Given::Absent, Given::Absent) => {
                error("missing_field", "sid", "sid or channel is required")
            }
            (Given::Absent, Given::Text(channel)) => Ok(StopTarget::Channel(channel.to_owned())),
            (Given::Text(sid), Given::Absent) => Ok(StopTarget::Sid(sid.to_owned())),
            (Given::Absent, Given::Other) => {
                error("invalid_channel", "channel", "channel must be a string")
            }
            (Given::Other, Given::Absent) => error(
                "invalid_sid",
                "sid",
                "sid must be a string: the sid that start returned",
            ),
            _ => error(
                "conflicting_fields",
                "channel",
                "send either sid or channel, not both",
            ),
        }
    }

    /// The request the gateway sends for this target.
    pub fn request(&self) -> StopRequest {
        match self {
            StopTarget::Sid(sid) => StopRequest {
                sid: Some(sid.clone()),
                channel: None,
            },
            StopTarget::Channel(channel) => StopRequest {
                sid: None,
                channel: Some(channel.clone()),
            },
        }
    }
}

/// `POST /internal/bot-token` (recorder → gateway): a fresh token for the bot in `channel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTokenRequest {
    pub channel: String,
}

/// The gateway's answer: the token and its lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotToken {
    pub token: String,
    pub expire_in: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_names_exactly_one_session() {
        use Given::*;
        assert_eq!(
            StopTarget::from_fields(Text("s"), Absent),
            Ok(StopTarget::Sid("s".into()))
        );
        assert_eq!(
            StopTarget::from_fields(Absent, Text("c")),
            Ok(StopTarget::Channel("c".into()))
        );
        for (sid, channel, code) in [
            (Absent, Absent, "missing_field"),
            (Text("s"), Text("c"), "conflicting_fields"),
            (Other, Text("c"), "conflicting_fields"),
            (Other, Absent, "invalid_sid"),
            (Absent, Other, "invalid_channel"),
        ] {
            assert_eq!(
                StopTarget::from_fields(sid, channel).unwrap_err().code,
                code
            );
        }
        let wire = serde_json::to_string(&StopTarget::Sid("s".into()).request()).unwrap();
        assert_eq!(wire, r#"{"sid":"s"}"#);
    }
}
