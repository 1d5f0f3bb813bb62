//! The key the gateway sends to the recorder's internal API, derived from `MEMHARBOR_SECRET_KEY`.
//!
//! Both services derive it the same way, so only the secret key has to be shared, and the key on the
//! wire is not the secret itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the internal key on gateway → recorder requests.
pub const HEADER: &str = "x-memharbor-internal-key";

/// Secret used when `MEMHARBOR_SECRET_KEY` is unset (development only; both services warn).
pub const DEVELOPMENT_SECRET: &str = "memharbor-development-secret-do-not-use-in-production";

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
}
