//! Byte-identity with Agora's official builders: every token in `fixtures/fixtures.json` was made by
//! `agora-access-token@2.0.4` (006) or `agora-token@2.0.6` (007) with fixed salts and timestamps
//! (`fixtures/generate.js`). 006 strings must be equal; 007 payloads must be equal after inflation.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;

use agora_token::v007::{self, AccessToken2, RtcService};
use agora_token::{
    AppCertificate, AppId, Identity, Role, RtcTokenBuilder, Token, TokenRequest, Version, v006,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Fixtures {
    v006: Vec<Case006>,
    v007: Vec<Case007>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FixtureIdentity {
    Uid(u32),
    Account(String),
}

impl From<&FixtureIdentity> for Identity {
    fn from(i: &FixtureIdentity) -> Self {
        match i {
            FixtureIdentity::Uid(u) => Identity::Uid(*u),
            FixtureIdentity::Account(a) => Identity::Account(a.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Case006 {
    app_id: String,
    app_cert: String,
    channel: String,
    identity: FixtureIdentity,
    uid_str: String,
    role: String,
    salt: u32,
    ts: u32,
    privilege_expire_ts: u32,
    privileges: BTreeMap<String, u32>,
    token: String,
}

#[derive(Debug, Deserialize)]
struct Case007 {
    app_id: String,
    app_cert: String,
    channel: String,
    identity: FixtureIdentity,
    uid_str: String,
    role: String,
    salt: u32,
    issue_ts: u32,
    expire: u32,
    privilege_expire: u32,
    privileges: BTreeMap<String, u32>,
    token: String,
    payload_hex: String,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(include_str!("fixtures/fixtures.json")).expect("fixtures.json parses")
}

fn map(p: &BTreeMap<String, u32>) -> BTreeMap<u16, u32> {
    p.iter()
        .map(|(k, v)| (k.parse().expect("numeric key"), *v))
        .collect()
}

fn role(r: &str) -> Role {
    match r {
        "publisher" => Role::Publisher,
        "subscriber" => Role::Subscriber,
        other => panic!("unknown role {other}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fixtures_cover_what_the_issue_names() {
    let f = fixtures();
    assert!(f.v006.len() >= 30 && f.v007.len() >= 30);
    let ids: Vec<_> = f.v006.iter().map(|c| &c.uid_str).collect();
    for needed in ["", "4294967295", "0"] {
        assert!(ids.iter().any(|u| u.as_str() == needed), "{needed:?}");
    }
    assert!(
        f.v006
            .iter()
            .any(|c| matches!(&c.identity, FixtureIdentity::Account(a) if a == "0"))
    );
    let specials = "!#$%&()+-:;<=.>?@[]^_{|}~, ";
    for ch in specials.chars() {
        assert!(
            f.v006.iter().any(|c| c.channel.contains(ch)),
            "channel char {ch:?}"
        );
    }
    assert!(
        f.v006.iter().any(|c| c.role == "subscriber")
            && f.v006.iter().any(|c| c.role == "publisher")
    );
}

#[test]
fn tokens_006_are_byte_identical_to_agoras() {
    for case in fixtures().v006 {
        let cert = AppCertificate::new(&case.app_cert).unwrap();
        let built = v006::build(
            &case.app_id,
            &cert,
            &case.channel,
            &case.uid_str,
            case.salt,
            case.ts,
            &map(&case.privileges),
        );
        assert_eq!(built, case.token, "{case:?}");

        // The high-level builder gives the same string when the privileges follow the role.
        let identity = Identity::from(&case.identity);
        assert_eq!(identity.uid_str(), case.uid_str);
        let expected_map = role(&case.role)
            .privileges()
            .iter()
            .map(|p| (*p as u16, case.privilege_expire_ts))
            .collect::<BTreeMap<_, _>>();
        if map(&case.privileges) == expected_map {
            let builder = RtcTokenBuilder::new(
                Version::V006,
                AppId::new(&case.app_id).unwrap(),
                cert.clone(),
            );
            let issued_at = case.ts - agora_token_ts_offset();
            let token = builder.build(&TokenRequest {
                channel: &case.channel,
                identity: &identity,
                role: role(&case.role),
                issued_at,
                expire: case.privilege_expire_ts - issued_at,
                salt: case.salt,
            });
            assert_eq!(token, case.token, "{case:?}");
        }

        let parsed = Token::parse(&case.token).unwrap();
        parsed.verify(&cert, &case.channel, &identity).unwrap();
    }
}

/// 006's message ts is issue time + 24 h in Agora's builders; fixtures fix `ts` directly.
fn agora_token_ts_offset() -> u32 {
    24 * 3600
}

#[test]
fn tokens_007_match_agoras_after_inflation() {
    for case in fixtures().v007 {
        let cert = AppCertificate::new(&case.app_cert).unwrap();
        let rtc = RtcService {
            privileges: map(&case.privileges),
            channel: case.channel.clone(),
            uid: case.uid_str.clone(),
        };
        let payload = v007::build_payload(
            &case.app_id,
            &cert,
            case.issue_ts,
            case.expire,
            case.salt,
            &rtc,
        );
        assert_eq!(hex(&payload), case.payload_hex, "{case:?}");
        assert_eq!(hex(&v007::inflate(&case.token).unwrap()), case.payload_hex);

        let ours = v007::build(
            &case.app_id,
            &cert,
            case.issue_ts,
            case.expire,
            case.salt,
            &rtc,
        );
        assert_eq!(hex(&v007::inflate(&ours).unwrap()), case.payload_hex);

        let identity = Identity::from(&case.identity);
        if case.privilege_expire == case.expire {
            let builder = RtcTokenBuilder::new(
                Version::V007,
                AppId::new(&case.app_id).unwrap(),
                cert.clone(),
            );
            let token = builder.build(&TokenRequest {
                channel: &case.channel,
                identity: &identity,
                role: role(&case.role),
                issued_at: case.issue_ts,
                expire: case.expire,
                salt: case.salt,
            });
            assert_eq!(
                hex(&v007::inflate(&token).unwrap()),
                case.payload_hex,
                "{case:?}"
            );
        }

        let parsed = AccessToken2::parse(&case.token).unwrap();
        assert_eq!(
            (parsed.issue_ts, parsed.expire, parsed.salt),
            (case.issue_ts, case.expire, case.salt)
        );
        parsed
            .verify_rtc(&cert, &case.channel, &case.uid_str)
            .unwrap();
        Token::parse(&case.token)
            .unwrap()
            .verify(&cert, &case.channel, &identity)
            .unwrap();
    }
}

#[test]
fn a_numeric_account_gives_the_same_token_as_the_uid() {
    let builder = RtcTokenBuilder::new(
        Version::V006,
        AppId::new("970CA35de60c44645bbae8a215061b33").unwrap(),
        AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap(),
    );
    let build = |identity: Identity| {
        builder.build(&TokenRequest {
            channel: "c",
            identity: &identity,
            role: Role::Publisher,
            issued_at: 1,
            expire: 2,
            salt: 3,
        })
    };
    assert_eq!(
        build(Identity::Uid(2_882_341_273)),
        build(Identity::Account("2882341273".into()))
    );
    assert_ne!(
        build(Identity::Uid(0)),
        build(Identity::Account("0".into()))
    );
}
