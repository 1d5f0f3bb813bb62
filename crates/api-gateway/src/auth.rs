//! Optional API keys: with `MEMHARBOR_API_KEYS` set, every `/api/*` route but health and the OpenAPI
//! document needs `Authorization: Bearer <key>`, compared in constant time. The check runs in
//! [`crate::gate`].

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Routes anyone may call.
const OPEN_PATHS: [&str; 2] = ["/api/health", "/api/openapi.json"];

/// True if `header` is `Bearer <k>` for one of `keys`. Every key is compared, so timing does not
/// reveal which one matched.
pub fn bearer_matches(header: Option<&str>, keys: &[SecretString]) -> bool {
    let Some(presented) = header.and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }) else {
        return false;
    };
    keys.iter().fold(false, |found, key| {
        let key = key.expose_secret().as_bytes();
        let same = key.len() == presented.len() && bool::from(key.ct_eq(presented.as_bytes()));
        found | same
    })
}

/// True if `path` needs a key when keys are configured: every `/api/*` route but the open ones.
pub fn needs_key(path: &str) -> bool {
    path.starts_with("/api/") && !OPEN_PATHS.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_and_exact_key() {
        let keys = vec![
            SecretString::from("k1".to_owned()),
            SecretString::from("key-two".to_owned()),
        ];
        assert!(bearer_matches(Some("Bearer key-two"), &keys));
        assert!(bearer_matches(Some("bearer k1"), &keys));
        assert!(!bearer_matches(Some("Bearer k"), &keys));
        assert!(!bearer_matches(Some("Basic k1"), &keys));
        assert!(!bearer_matches(Some("k1"), &keys));
        assert!(!bearer_matches(None, &keys));
    }
}
