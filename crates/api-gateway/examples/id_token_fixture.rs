//! For `bench/http.sh`: prints a JWK set and a Firebase ID token it verifies (user `alice`,
//! project `demo-memharbor`, valid a day), signed with the test suite's fixture key, as
//! `{"jwks": …, "token": "…"}`.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const KEY: &[u8] = include_bytes!("../tests/api/fixtures/test-signing-key.pem");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let encoding = EncodingKey::from_rsa_pem(KEY)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
    jwk.common.key_id = Some("kid-1".into());
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("kid-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"iss": "https://securetoken.google.com/demo-memharbor", "aud": "demo-memharbor",
                "sub": "alice", "iat": now, "auth_time": now, "exp": now + 86_400}),
        &encoding,
    )?;
    println!(
        "{}",
        json!({"jwks": JwkSet { keys: vec![jwk] }, "token": token})
    );
    Ok(())
}
