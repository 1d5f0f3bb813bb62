//! Issuing a token now, for a client (`POST /api/token`) and for the recording bot alike: what
//! `agora-token` leaves to its callers, the issue time from the clock and a fresh salt.

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
