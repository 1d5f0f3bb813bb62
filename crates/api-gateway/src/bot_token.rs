//! The recording bot's Agora token: minted here (the gateway holds the App Certificate), never in
//! the recorder. Subscriber role, the bot's uid, valid an hour past the longest recording.

use agora_token::{Identity, Role, RtcTokenBuilder};

use crate::issue::issue_now;

/// Extra validity beyond `RECORDER_MAX_DURATION_S`.
pub const MARGIN_S: u32 = 3600;

/// A token for bot `uid` in `channel`, and its lifetime in seconds.
pub fn mint(
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
            let (token, expire) = mint(&builder, 999_999, 14_400, "g_a_b");
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
