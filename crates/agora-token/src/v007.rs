//! Format 007 (AccessToken2): `"007" ‖ base64(zlib(content))`, expiries relative to the issue time.
//!
//! ```text
//! content      = bytes(signature) ‖ signing_info
//! signing_info = bytes(appId) ‖ u32 issue_ts ‖ u32 expire ‖ u32 salt ‖ u16 n ‖ service*
//! RTC service  = u16 1 ‖ map privileges ‖ bytes(channel) ‖ bytes(uidStr)
//! k1 = HMAC(key = u32le(issue_ts), msg = cert); k2 = HMAC(key = u32le(salt), msg = k1)
//! signature = HMAC(key = k2, msg = signing_info)
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::read::ZlibDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::pack::{Packer, Unpacker};
use crate::{AppCertificate, ParseError, VerifyError};

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "007";
/// Service type of RTC in AccessToken2.
pub const SERVICE_RTC: u16 = 1;
/// Largest inflated body [`AccessToken2::parse`] accepts. Real tokens are a few hundred bytes.
pub const MAX_INFLATED_LEN: usize = 16 * 1024;

/// The RTC service of a 007 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcService {
    /// Privilege id → seconds after the issue time.
    pub privileges: BTreeMap<u16, u32>,
    pub channel: String,
    pub uid: String,
}

impl RtcService {
    fn pack(&self, out: &mut Packer) {
        out.u16(SERVICE_RTC)
            .privileges(&self.privileges)
            .bytes(self.channel.as_bytes())
            .bytes(self.uid.as_bytes());
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn signature(cert: &AppCertificate, issue_ts: u32, salt: u32, signing_info: &[u8]) -> [u8; 32] {
    let k1 = hmac(&issue_ts.to_le_bytes(), cert.expose_bytes());
    let k2 = hmac(&salt.to_le_bytes(), &k1);
    hmac(&k2, signing_info)
}

/// The uncompressed token body, exactly as Agora's `AccessToken2.build()` assembles it.
pub fn build_payload(
    app_id: &str,
    cert: &AppCertificate,
    issue_ts: u32,
    expire: u32,
    salt: u32,
    rtc: &RtcService,
) -> Vec<u8> {
    let mut info = Packer::with_capacity(64 + rtc.channel.len() + rtc.uid.len());
    info.bytes(app_id.as_bytes())
        .u32(issue_ts)
        .u32(expire)
        .u32(salt)
        .u16(1);
    rtc.pack(&mut info);
    let info = info.into_inner();
    let sig = signature(cert, issue_ts, salt, &info);

    let mut content = Packer::with_capacity(34 + info.len());
    content.bytes(&sig).raw(&info);
    content.into_inner()
}

/// zlib window for token bodies: 2^9 = 512 bytes covers any payload we build (< 400 bytes) and keeps
/// the compressor's set-up cheap. Any standard inflater reads it (the header states the window).
const WINDOW_BITS: u8 = 9;

thread_local! {
    /// One compressor per thread, reset between tokens: creating one costs more than the rest of
    /// the token put together.
    static DEFLATE: RefCell<Compress> =
        RefCell::new(Compress::new_with_window_bits(Compression::fast(), true, WINDOW_BITS));
}

/// zlib-compresses a token payload.
fn deflate(payload: &[u8]) -> Vec<u8> {
    DEFLATE.with_borrow_mut(|z| {
        z.reset();
        let mut out = Vec::with_capacity(payload.len() + 64);
        loop {
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            match z.compress_vec(
                &payload[consumed.min(payload.len())..],
                &mut out,
                FlushCompress::Finish,
            ) {
                Ok(Status::StreamEnd) => return out,
                // Out of room: grow and continue. Compression into memory has no other failure.
                Ok(Status::Ok | Status::BufError) | Err(_) => out.reserve(out.capacity().max(64)),
            }
        }
    })
}

/// Builds a 007 token with one RTC service.
pub fn build(
    app_id: &str,
    cert: &AppCertificate,
    issue_ts: u32,
    expire: u32,
    salt: u32,
    rtc: &RtcService,
) -> String {
    let payload = build_payload(app_id, cert, issue_ts, expire, salt, rtc);
    let compressed = deflate(&payload);
    let mut token = String::with_capacity(3 + compressed.len().div_ceil(3) * 4);
    token.push_str(PREFIX);
    STANDARD.encode_string(&compressed, &mut token);
    token
}

/// Inflates a 007 token body, refusing anything above [`MAX_INFLATED_LEN`].
pub fn inflate(token: &str) -> Result<Vec<u8>, ParseError> {
    let body = token
        .strip_prefix(PREFIX)
        .ok_or(ParseError::UnknownVersion)?;
    let compressed = STANDARD.decode(body).map_err(|_| ParseError::Base64)?;
    let mut out = Vec::with_capacity(compressed.len() * 2);
    ZlibDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| ParseError::Inflate)?;
    if out.len() > MAX_INFLATED_LEN {
        return Err(ParseError::TooLarge(MAX_INFLATED_LEN));
    }
    Ok(out)
}

/// A parsed 007 token holding one RTC service. Verification uses the received signing bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken2 {
    pub app_id: String,
    pub issue_ts: u32,
    /// Token lifetime in seconds after `issue_ts`.
    pub expire: u32,
    pub salt: u32,
    pub rtc: Option<RtcService>,
    signature: Vec<u8>,
    signing_info: Vec<u8>,
}

fn utf8(bytes: &[u8]) -> Result<String, ParseError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ParseError::NotUtf8)
}

impl AccessToken2 {
    pub fn parse(token: &str) -> Result<Self, ParseError> {
        Self::parse_payload(&inflate(token)?)
    }

    /// Parses an inflated body (see [`inflate`]).
    pub fn parse_payload(content: &[u8]) -> Result<Self, ParseError> {
        let mut r = Unpacker::new(content);
        let signature = r.bytes()?.to_vec();
        if signature.len() != 32 {
            return Err(ParseError::BadSignatureLength);
        }
        let info_start = r.position();
        let app_id = utf8(r.bytes()?)?;
        let issue_ts = r.u32()?;
        let expire = r.u32()?;
        let salt = r.u32()?;
        let services = r.u16()?;
        let mut rtc = None;
        for _ in 0..services {
            match r.u16()? {
                SERVICE_RTC => {
                    let privileges = r.privileges()?;
                    let channel = utf8(r.bytes()?)?;
                    let uid = utf8(r.bytes()?)?;
                    rtc = Some(RtcService {
                        privileges,
                        channel,
                        uid,
                    });
                }
                other => return Err(ParseError::UnsupportedService(other)),
            }
        }
        r.finish()?;
        Ok(Self {
            app_id,
            issue_ts,
            expire,
            salt,
            rtc,
            signature,
            signing_info: content[info_start..].to_vec(),
        })
    }

    /// Checks the signature with `cert` (constant-time).
    pub fn verify_signature(&self, cert: &AppCertificate) -> Result<(), VerifyError> {
        let expected = signature(cert, self.issue_ts, self.salt, &self.signing_info);
        if bool::from(expected.as_slice().ct_eq(&self.signature)) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }

    /// Checks the signature and that the RTC service is for `channel` and `uid_str`.
    pub fn verify_rtc(
        &self,
        cert: &AppCertificate,
        channel: &str,
        uid_str: &str,
    ) -> Result<(), VerifyError> {
        self.verify_signature(cert)?;
        let rtc = self.rtc.as_ref().ok_or(VerifyError::NoRtcService)?;
        if rtc.channel != channel {
            return Err(VerifyError::Channel);
        }
        if rtc.uid != uid_str {
            return Err(VerifyError::Uid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::ZlibEncoder;
    use std::io::Write as _;

    #[test]
    fn a_zlib_bomb_is_refused_quickly() {
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![0u8; 10 * 1024 * 1024]).unwrap();
        let bomb = format!("007{}", STANDARD.encode(enc.finish().unwrap()));
        assert_eq!(
            AccessToken2::parse(&bomb),
            Err(ParseError::TooLarge(MAX_INFLATED_LEN))
        );
    }
}
