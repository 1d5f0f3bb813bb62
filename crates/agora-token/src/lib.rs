//! Agora RTC tokens, formats 006 (AccessToken) and 007 (AccessToken2): building, parsing and verifying.
//!
//! Byte-identical to Agora's official builders for the same inputs, salt and timestamps (007: identical
//! after zlib inflation; deflate output is not canonical). The builders validate nothing; this crate
//! offers [`is_valid_channel_name`] and [`is_valid_user_account`] for callers that take untrusted input.
//! No I/O, no clock, no randomness: callers pass the issue time and salt.

mod builder;
mod charset;
mod credentials;
mod error;
mod identity;
mod pack;
mod privilege;
pub mod v006;
pub mod v007;

pub use builder::{RtcTokenBuilder, TokenRequest};
pub use charset::{
    MAX_CHANNEL_LEN, MAX_USER_ACCOUNT_LEN, is_valid_channel_name, is_valid_user_account,
};
pub use credentials::{AppCertificate, AppId, CredentialError};
pub use error::{ParseError, VerifyError};
pub use identity::Identity;
pub use privilege::{Privilege, Role};

use std::fmt;
use std::str::FromStr;

/// Token format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `006`: AccessToken, the original server's format. Privilege expiries are absolute.
    V006,
    /// `007`: AccessToken2, zlib-compressed. Expiries are relative to the issue time.
    V007,
}

impl Version {
    /// The three-character prefix every token of this version starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            Version::V006 => "006",
            Version::V007 => "007",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

impl FromStr for Version {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "006" => Ok(Version::V006),
            "007" => Ok(Version::V007),
            _ => Err(UnknownVersion),
        }
    }
}

/// A version string other than `006` or `007`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token version must be \"006\" or \"007\"")]
pub struct UnknownVersion;

/// A parsed token of either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    V006(v006::AccessToken),
    V007(v007::AccessToken2),
}

impl Token {
    /// Parses a token string of either version. Never panics; 007 inflation is size-capped.
    pub fn parse(token: &str) -> Result<Self, ParseError> {
        match token.get(..3) {
            Some("006") => v006::AccessToken::parse(token).map(Token::V006),
            Some("007") => v007::AccessToken2::parse(token).map(Token::V007),
            _ => Err(ParseError::UnknownVersion),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            Token::V006(_) => Version::V006,
            Token::V007(_) => Version::V007,
        }
    }

    /// Verifies the signature with `cert` and that the token is for `channel` and `identity`.
    pub fn verify(
        &self,
        cert: &AppCertificate,
        channel: &str,
        identity: &Identity,
    ) -> Result<(), VerifyError> {
        match self {
            Token::V006(t) => t.verify(cert, channel, &identity.uid_str()),
            Token::V007(t) => t.verify_rtc(cert, channel, &identity.uid_str()),
        }
    }
}
