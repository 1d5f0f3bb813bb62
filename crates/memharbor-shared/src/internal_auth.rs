//! The key the gateway sends to the recorder's internal API, derived from `MEMHARBOR_SECRET_KEY`.
//!
//! Both services derive it the same way, so only the secret key has to be shared, and the key on the
//! wire is not the secret itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the internal key on gateway → recorder requests.
pub const HEADER: &str = "x-memharbor-internal-key";

/// The shortest `MEMHARBOR_SECRET_KEY` either service accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Values that were published as examples (in this repository's history or documentation): a key
/// equal to one of these, or containing `change-me`, is refused.
const KNOWN_PLACEHOLDERS: &[&str] = &[
    "memharbor-development-secret-do-not-use-in-production",
    "your-secret-key",
    "secret",
];

/// Checks `MEMHARBOR_SECRET_KEY`: at least [`MIN_SECRET_BYTES`] bytes, not a published
/// placeholder, not one character repeated. The error says what is accepted, never the value.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let lowered = secret.to_ascii_lowercase();
    if KNOWN_PLACEHOLDERS.contains(&lowered.as_str())
        || lowered.contains("change-me")
        || lowered.contains("changeme")
    {
        return Err(
            "is a published placeholder: set a random value (`make env` writes one into .env; or `openssl rand -hex 32`)"
                .to_owned(),
        );
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "is {} bytes long; use at least {MIN_SECRET_BYTES} random bytes (`openssl rand -hex 32`)",
            secret.len()
        ));
    }
    if secret.bytes().all(|b| b == secret.as_bytes()[0]) {
        return Err(
            "is one character repeated; use a random value (`openssl rand -hex 32`)".to_owned(),
        );
    }
    Ok(())
}

/// The internal key for `secret`: hex(HMAC-SHA256(secret, purpose label)).
pub fn derive_key(secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"memharbor/recorder-internal-api/v1");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time comparison of a presented key with the expected one.
pub fn matches(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_key_depends_on_the_secret_and_hides_it() {
        let a = derive_key("secret-a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, derive_key("secret-b"));
        assert!(!a.contains("secret"));
        assert!(matches(&a, &derive_key("secret-a")));
        assert!(!matches("", &a));
    }

    #[test]
    fn secrets_must_be_long_random_and_not_a_placeholder() {
        assert!(check_secret("0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "",
            "short",
            "memharbor-development-secret-do-not-use-in-production",
            "change-me",
            "please-CHANGE-ME-to-something-long-and-random",
            "a".repeat(40).as_str(),
        ] {
            let e = check_secret(bad).unwrap_err();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }
}
