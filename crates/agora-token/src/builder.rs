//! The high-level builder: Agora's `RtcTokenBuilder` semantics for either version.

use hmac::Hmac;
use sha2::Sha256;

use crate::v007::RtcService;
use crate::{AppCertificate, AppId, Identity, Role, Version, v006, v007};

/// What a token is for and when it was issued. Callers supply the clock and the salt.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    pub channel: &'a str,
    pub identity: &'a Identity,
    pub role: Role,
    /// Unix seconds at issue.
    pub issued_at: u32,
    /// Lifetime in seconds: privileges (and, for 007, the token) end at `issued_at + expire`.
    pub expire: u32,
    /// Any u32; Agora's builders draw it from 1..=99_999_999.
    pub salt: u32,
}

/// Seconds Agora's builders add to the issue time for 006's message timestamp.
pub const V006_MESSAGE_TS_OFFSET: u32 = 24 * 3600;

/// Builds RTC tokens for one App ID and certificate; the 006 HMAC key is prepared once.
#[derive(Clone)]
pub struct RtcTokenBuilder {
    version: Version,
    app_id: AppId,
    cert: AppCertificate,
    keyed_006: Hmac<Sha256>,
}

impl std::fmt::Debug for RtcTokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcTokenBuilder")
            .field("version", &self.version)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl RtcTokenBuilder {
    pub fn new(version: Version, app_id: AppId, cert: AppCertificate) -> Self {
        let keyed_006 = v006::keyed_hmac(&cert);
        Self {
            version,
            app_id,
            cert,
            keyed_006,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn app_id(&self) -> &AppId {
        &self.app_id
    }

    pub fn certificate(&self) -> &AppCertificate {
        &self.cert
    }

    /// Builds the token as Agora's `RtcTokenBuilder.buildTokenWithUid`/`WithAccount` would.
    ///
    /// 006: message `ts` = issue + 24 h, privileges expire at `issued_at + expire` (absolute).
    /// 007: token expire = privilege expire = `expire` seconds (relative).
    pub fn build(&self, req: &TokenRequest<'_>) -> String {
        let uid_str = req.identity.uid_str();
        match self.version {
            Version::V006 => {
                let expire_at = req.issued_at.saturating_add(req.expire);
                v006::build_with(
                    &self.keyed_006,
                    self.app_id.as_str(),
                    req.channel,
                    &uid_str,
                    req.salt,
                    req.issued_at.saturating_add(V006_MESSAGE_TS_OFFSET),
                    &req.role.privilege_map(expire_at),
                )
            }
            Version::V007 => {
                let rtc = RtcService {
                    privileges: req.role.privilege_map(req.expire),
                    channel: req.channel.to_owned(),
                    uid: uid_str.into_owned(),
                };
                v007::build(
                    self.app_id.as_str(),
                    &self.cert,
                    req.issued_at,
                    req.expire,
                    req.salt,
                    &rtc,
                )
            }
        }
    }
}
