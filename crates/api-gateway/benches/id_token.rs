//! What verifying a Firebase ID token costs per request with the key set cached: RS256 signature
//! check and claims, through the gateway's own verifier.
//!
//! `cargo bench -p api-gateway --bench id_token` (part of `make bench`).

use std::time::Duration;

use api_gateway::auth::firebase::{FirebaseAuthSettings, FirebaseVerifier};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const KEY: &[u8] = include_bytes!("../tests/api/fixtures/test-signing-key.pem");

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let encoding = EncodingKey::from_rsa_pem(KEY).expect("key");
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some("kid-1".into());
    let set = serde_json::to_string(&JwkSet { keys: vec![jwk] }).expect("json");
    // The key set, served once from loopback (then cached for its max-age).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{set}",
                set.len()
            );
        }
    });
    let verifier = FirebaseVerifier::new(FirebaseAuthSettings {
        project_id: "demo-memharbor".into(),
        keys_url: url,
        user_claim: None,
        emulator: false,
        refetch_interval: Duration::from_secs(30),
    })
    .expect("verifier");
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("kid-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"iss": "https://securetoken.google.com/demo-memharbor", "aud": "demo-memharbor",
                "sub": "alice", "iat": now, "auth_time": now, "exp": now + 3600}),
        &encoding,
    )
    .expect("token");
    runtime
        .block_on(verifier.verify(&token))
        .expect("a valid token");
    c.bench_function("verify_id_token_cached_keys", |b| {
        b.iter(|| runtime.block_on(verifier.verify(&token)).expect("valid"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
