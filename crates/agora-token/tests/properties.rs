//! Properties over generated inputs: round-trips verify, any tampering fails, garbage never panics.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agora_token::v007::{self, AccessToken2};
use agora_token::{
    AppCertificate, AppId, Identity, Role, RtcTokenBuilder, Token, TokenRequest, Version,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use std::io::Write as _;

const ALPHABET: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&()+-:;<=.>?@[]^_{|}~,";

fn agora_string(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
        1..=max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        any::<u32>().prop_map(Identity::Uid),
        agora_string(255).prop_map(Identity::Account)
    ]
}

fn hex32() -> impl Strategy<Value = String> {
    "[0-9a-fA-F]{32}"
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V006), Just(Version::V007)]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Publisher), Just(Role::Subscriber)]
}

/// Decoded token body: 006's base64 content or 007's inflated payload.
fn body(token: &str) -> Vec<u8> {
    match &token[..3] {
        "006" => STANDARD.decode(&token[35..]).unwrap(),
        _ => v007::inflate(token).unwrap(),
    }
}

/// Re-encodes a (possibly tampered) body as a token of the same version.
fn reencode(token: &str, body: &[u8]) -> String {
    match &token[..3] {
        "006" => format!("{}{}", &token[..35], STANDARD.encode(body)),
        _ => {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(body).unwrap();
            format!("007{}", STANDARD.encode(enc.finish().unwrap()))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn built_tokens_parse_and_verify(
        version in version(), app_id in hex32(), cert in hex32(), channel in agora_string(64),
        identity in identity(), role in role(), issued_at in 1u32.., expire in 1u32..=86_400, salt in any::<u32>(),
    ) {
        let cert = AppCertificate::new(cert).unwrap();
        let builder = RtcTokenBuilder::new(version, AppId::new(&app_id).unwrap(), cert.clone());
        let token = builder.build(&TokenRequest { channel: &channel, identity: &identity, role, issued_at, expire, salt });
        prop_assert!(token.starts_with(version.prefix()));
        let parsed = Token::parse(&token).unwrap();
        prop_assert_eq!(parsed.version(), version);
        prop_assert!(parsed.verify(&cert, &channel, &identity).is_ok());
        match parsed {
            Token::V006(t) => {
                prop_assert_eq!(t.app_id, app_id);
                prop_assert_eq!(t.salt, salt);
                prop_assert!(t.privileges.values().all(|v| *v == issued_at.saturating_add(expire)));
                prop_assert_eq!(t.privileges.len(), role.privileges().len());
            }
            Token::V007(t) => {
                prop_assert_eq!(t.app_id, app_id);
                prop_assert_eq!((t.issue_ts, t.expire, t.salt), (issued_at, expire, salt));
                let rtc = t.rtc.unwrap();
                prop_assert!(rtc.privileges.values().all(|v| *v == expire));
                prop_assert_eq!(rtc.privileges.len(), role.privileges().len());
            }
        }
    }

    #[test]
    fn any_flipped_byte_fails(
        version in version(), cert in hex32(), channel in agora_string(64), identity in identity(),
        index in any::<prop::sample::Index>(), flip in 1u8..,
    ) {
        let cert = AppCertificate::new(cert).unwrap();
        let builder = RtcTokenBuilder::new(version, AppId::new("970CA35de60c44645bbae8a215061b33").unwrap(), cert.clone());
        let token = builder.build(&TokenRequest { channel: &channel, identity: &identity, role: Role::Publisher, issued_at: 1_700_000_000, expire: 3600, salt: 42 });
        let mut tampered = body(&token);
        let i = index.index(tampered.len());
        tampered[i] ^= flip;
        let tampered = reencode(&token, &tampered);
        let accepted = Token::parse(&tampered).map(|t| t.verify(&cert, &channel, &identity).is_ok()).unwrap_or(false);
        prop_assert!(!accepted, "byte {} of {} flipped and still verified", i, token);
    }

    #[test]
    fn another_channel_uid_or_cert_fails(
        version in version(), channel in agora_string(64), other_channel in agora_string(64),
        uid in 1u32.., other_uid in 1u32.., cert in hex32(), other_cert in hex32(),
    ) {
        let cert_text = cert.clone();
        let cert = AppCertificate::new(cert).unwrap();
        let builder = RtcTokenBuilder::new(version, AppId::new("970CA35de60c44645bbae8a215061b33").unwrap(), cert.clone());
        let identity = Identity::Uid(uid);
        let token = Token::parse(&builder.build(&TokenRequest { channel: &channel, identity: &identity, role: Role::Subscriber, issued_at: 1_700_000_000, expire: 60, salt: 7 })).unwrap();
        if other_channel != channel {
            prop_assert!(token.verify(&cert, &other_channel, &identity).is_err());
        }
        if other_uid != uid {
            prop_assert!(token.verify(&cert, &channel, &Identity::Uid(other_uid)).is_err());
            prop_assert!(token.verify(&cert, &channel, &Identity::Uid(0)).is_err());
        }
        if other_cert != cert_text {
            let other = AppCertificate::new(other_cert).unwrap();
            prop_assert!(token.verify(&other, &channel, &identity).is_err());
        }
    }

    #[test]
    fn garbage_never_panics(s in ".{0,400}") {
        let _ = Token::parse(&s);
        let _ = Token::parse(&format!("006{s}"));
        let _ = Token::parse(&format!("007{s}"));
    }

    #[test]
    fn garbage_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Token::parse(&format!("006970CA35de60c44645bbae8a215061b33{}", STANDARD.encode(&bytes)));
        let _ = Token::parse(&format!("007{}", STANDARD.encode(&bytes)));
        let _ = AccessToken2::parse_payload(&bytes);
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        let _ = Token::parse(&format!("007{}", STANDARD.encode(enc.finish().unwrap())));
    }
}
