//! The Agora tokens the gateway issues, for a client (`POST /api/token`) and for the recording bot
//! alike (the gateway holds the App Certificate; the recorder never does): what `agora-token`
//! leaves to its callers, the issue time from the clock and a fresh salt, and the bot's terms.

use std::time::{SystemTime, UNIX_EPOCH};

use agora_token::{Identity, Role, RtcTokenBuilder, TokenRequest};

/// A token for `identity` in `channel`, issued now and valid for `expire` seconds; with the issue
/// time in Unix seconds.
pub fn issue_now(
    tokens: &RtcTokenBuilder,
    channel: &str,
    identity: &Identity,
    role: Role,
    expire: u32,
) -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = tokens.build(&TokenRequest {
        channel,
        identity,
        role,
        // Agora timestamps are u32 seconds (good until 2106).
        issued_at: u32::try_from(now).unwrap_or(u32::MAX),
        expire,
        salt: rand::random_range(1..=99_999_999),
    });
    (token, now)
}

/// Extra validity beyond `RECORDER_MAX_DURATION_S`.
pub const MARGIN_S: u32 = 3600;

/// The recording bot's token: subscriber role, the bot's `uid`, valid an hour past the longest
/// recording; with its lifetime in seconds.
pub fn bot_token(
    tokens: &RtcTokenBuilder,
    uid: u32,
    max_duration_s: u32,
    channel: &str,
) -> (String, u32) {
    let expire = max_duration_s.saturating_add(MARGIN_S);
    let (token, _) = issue_now(
        tokens,
        channel,
        &Identity::Uid(uid),
        Role::Subscriber,
        expire,
    );
    (token, expire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_token::{AppCertificate, AppId, Token, Version};

    #[test]
    fn the_bot_gets_a_subscriber_token_for_its_uid_that_outlives_the_longest_recording() {
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        for version in [Version::V006, Version::V007] {
            let builder = RtcTokenBuilder::new(
                version,
                AppId::new("970CA35de60c44645bbae8a215061b33").unwrap(),
                cert.clone(),
            );
            let (token, expire) = bot_token(&builder, 999_999, 14_400, "g_a_b");
            assert_eq!(expire, 14_400 + 3600);
            let parsed = Token::parse(&token).unwrap();
            parsed
                .verify(&cert, "g_a_b", &Identity::Uid(999_999))
                .unwrap();
            assert!(parsed.verify(&cert, "g_a_b", &Identity::Uid(0)).is_err());
            let privileges = match parsed {
                Token::V006(t) => t.privileges,
                Token::V007(t) => t.rtc.unwrap().privileges,
            };
            assert_eq!(
                privileges.keys().copied().collect::<Vec<_>>(),
                vec![1],
                "join only"
            );
        }
    }
}
