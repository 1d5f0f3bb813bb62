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

/// `POST /internal/sessions/stop`: exactly one of `sid`, `channel`; with `forUser`, only a
/// session of that user's channels (anything else is unknown: 404).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
}

/// The query of the reading routes (`GET` sessions, one session, a file): with `forUser`, only
/// what belongs to that user's channels; anything else is unknown (404) or left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
}

impl ForUser {
    /// `?forUser=…` (URL-encoded), or nothing.
    pub fn query(user: Option<&str>) -> String {
        user.map(|u| {
            let encoded: String = url_encode(u);
            format!("?forUser={encoded}")
        })
        .unwrap_or_default()
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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

    /// The request the gateway sends for this target, restricted to `for_user`'s sessions.
    pub fn request(&self, for_user: Option<&str>) -> StopRequest {
        let for_user = for_user.map(str::to_owned);
        match self {
            StopTarget::Sid(sid) => StopRequest {
                sid: Some(sid.clone()),
                channel: None,
                for_user,
            },
            StopTarget::Channel(channel) => StopRequest {
                sid: None,
                channel: Some(channel.clone()),
                for_user,
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
        let wire = serde_json::to_string(&StopTarget::Sid("s".into()).request(None)).unwrap();
        assert_eq!(wire, r#"{"sid":"s"}"#);
        let wire = serde_json::to_string(&StopTarget::Sid("s".into()).request(Some("a"))).unwrap();
        assert_eq!(wire, r#"{"sid":"s","forUser":"a"}"#);
        assert_eq!(ForUser::query(Some("a b@c")), "?forUser=a%20b%40c");
        assert_eq!(ForUser::query(None), "");
    }
}
