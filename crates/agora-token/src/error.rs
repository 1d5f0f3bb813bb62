//! Why a token could not be parsed or did not verify.

/// A token string that is not a well-formed 006 or 007 token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("token does not start with \"006\" or \"007\"")]
    UnknownVersion,
    #[error("token's App ID is not 32 characters")]
    BadAppId,
    #[error("token body is not valid base64")]
    Base64,
    #[error("token body is not valid zlib data")]
    Inflate,
    #[error("token body inflates to more than the {0}-byte limit")]
    TooLarge(usize),
    #[error("token body ends early")]
    Truncated,
    #[error("token body has bytes after its last field")]
    TrailingBytes,
    #[error("token signature is not 32 bytes")]
    BadSignatureLength,
    #[error("token holds a field that is not UTF-8")]
    NotUtf8,
    #[error("token holds service type {0}, which this crate does not parse")]
    UnsupportedService(u16),
}

/// A well-formed token that is not valid for what it was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature does not match the App Certificate")]
    Signature,
    #[error("token is for another channel")]
    Channel,
    #[error("token is for another uid or user account")]
    Uid,
    #[error("token has no RTC service")]
    NoRtcService,
}
