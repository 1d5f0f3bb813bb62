//! Format 006 (AccessToken): `"006" ‖ appId ‖ base64(content)`, privilege expiries absolute.
//!
//! ```text
//! content   = bytes(signature) ‖ u32 crc32(channel) ‖ u32 crc32(uidStr) ‖ bytes(m)
//! m         = u32 salt ‖ u32 ts ‖ map privileges
//! signature = HMAC-SHA256(key = cert, msg = appId ‖ channel ‖ uidStr ‖ m)
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::pack::{Packer, Unpacker};
use crate::{AppCertificate, ParseError, VerifyError};

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "006";
const APP_ID_LEN: usize = 32;

/// Builds a 006 token with a keyed HMAC prepared once per certificate.
pub(crate) fn build_with(
    keyed: &HmacSha256,
    app_id: &str,
    channel: &str,
    uid_str: &str,
    salt: u32,
    ts: u32,
    privileges: &BTreeMap<u16, u32>,
) -> String {
    let mut m = Packer::with_capacity(12 + privileges.len() * 6);
    m.u32(salt).u32(ts).privileges(privileges);
    let m = m.into_inner();

    let mut mac = keyed.clone();
    mac.update(app_id.as_bytes());
    mac.update(channel.as_bytes());
    mac.update(uid_str.as_bytes());
    mac.update(&m);
    let signature = mac.finalize().into_bytes();

    let mut content = Packer::with_capacity(2 + 32 + 8 + 2 + m.len());
    content
        .bytes(&signature)
        .u32(crc32fast::hash(channel.as_bytes()))
        .u32(crc32fast::hash(uid_str.as_bytes()))
        .bytes(&m);
    let content = content.into_inner();

    let mut token =
        String::with_capacity(PREFIX.len() + app_id.len() + content.len().div_ceil(3) * 4);
    token.push_str(PREFIX);
    token.push_str(app_id);
    STANDARD.encode_string(&content, &mut token);
    token
}

/// Builds a 006 token exactly as Agora's `AccessToken.build()` does.
pub fn build(
    app_id: &str,
    cert: &AppCertificate,
    channel: &str,
    uid_str: &str,
    salt: u32,
    ts: u32,
    privileges: &BTreeMap<u16, u32>,
) -> String {
    let keyed = keyed_hmac(cert);
    build_with(&keyed, app_id, channel, uid_str, salt, ts, privileges)
}

pub(crate) fn keyed_hmac(cert: &AppCertificate) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(cert.expose_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// A parsed 006 token. Verification uses the received bytes of `m`, never a re-serialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub app_id: String,
    pub signature: Vec<u8>,
    pub crc_channel: u32,
    pub crc_uid: u32,
    pub salt: u32,
    /// Message timestamp (Agora's builders set issue time + 24 h).
    pub ts: u32,
    /// Privilege id → absolute expiry (Unix seconds).
    pub privileges: BTreeMap<u16, u32>,
    message: Vec<u8>,
}

impl AccessToken {
    pub fn parse(token: &str) -> Result<Self, ParseError> {
        let rest = token
            .strip_prefix(PREFIX)
            .ok_or(ParseError::UnknownVersion)?;
        let app_id = rest.get(..APP_ID_LEN).ok_or(ParseError::BadAppId)?;
        let body = &rest[APP_ID_LEN..];
        let content = STANDARD.decode(body).map_err(|_| ParseError::Base64)?;

        let mut r = Unpacker::new(&content);
        let signature = r.bytes()?.to_vec();
        if signature.len() != 32 {
            return Err(ParseError::BadSignatureLength);
        }
        let crc_channel = r.u32()?;
        let crc_uid = r.u32()?;
        let message = r.bytes()?.to_vec();
        r.finish()?;

        let mut m = Unpacker::new(&message);
        let salt = m.u32()?;
        let ts = m.u32()?;
        let privileges = m.privileges()?;
        m.finish()?;

        Ok(Self {
            app_id: app_id.to_owned(),
            signature,
            crc_channel,
            crc_uid,
            salt,
            ts,
            privileges,
            message,
        })
    }

    /// Checks the channel and uid checksums, then the signature (constant-time).
    pub fn verify(
        &self,
        cert: &AppCertificate,
        channel: &str,
        uid_str: &str,
    ) -> Result<(), VerifyError> {
        if crc32fast::hash(channel.as_bytes()) != self.crc_channel {
            return Err(VerifyError::Channel);
        }
        if crc32fast::hash(uid_str.as_bytes()) != self.crc_uid {
            return Err(VerifyError::Uid);
        }
        let mut mac = keyed_hmac(cert);
        mac.update(self.app_id.as_bytes());
        mac.update(channel.as_bytes());
        mac.update(uid_str.as_bytes());
        mac.update(&self.message);
        let expected = mac.finalize().into_bytes();
        if bool::from(expected.as_slice().ct_eq(&self.signature)) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_back_what_build_wrote() {
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        let privileges = BTreeMap::from([(1, 1_700_003_600)]);
        let token = build(
            "970CA35de60c44645bbae8a215061b33",
            &cert,
            "group1_alice_bob",
            "12345",
            7,
            1_700_086_400,
            &privileges,
        );
        let parsed = AccessToken::parse(&token).unwrap();
        assert_eq!(parsed.salt, 7);
        assert_eq!(parsed.ts, 1_700_086_400);
        assert_eq!(parsed.privileges, privileges);
        parsed.verify(&cert, "group1_alice_bob", "12345").unwrap();
        assert_eq!(
            parsed.verify(&cert, "group1_alice_bob", "1234"),
            Err(VerifyError::Uid)
        );
    }
}
