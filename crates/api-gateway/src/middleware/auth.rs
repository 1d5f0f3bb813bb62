//! Optional API keys: with `MEMHARBOR_API_KEYS` set, every route but a short list of open ones
//! needs `Authorization: Bearer <key>`, compared in constant time. The check runs in
//! [`crate::middleware::gate`], on the path as the router matches it (percent-decoded), so `/%61pi/token` is
//! `/api/token` to the check exactly as it is to the router.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Routes anyone may call: health and the API document; `/metrics` (never forwarded by nginx or
/// the Ingress); `/internal/bot-token`, which checks the recorder's internal key itself. Every
/// other path, known or not, needs a key (deny by default).
const OPEN_PATHS: [&str; 4] = [
    "/api/health",
    "/api/openapi.json",
    "/metrics",
    "/internal/bot-token",
];

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

/// True if `routed_path` needs a key when keys are configured: everything but the open routes.
/// `routed_path` must be the path the router matches (`req.match_info().as_str()`: percent-decoded
/// except `%2F`, `%25` and `%2B`), never the raw request path.
pub fn needs_key(routed_path: &str) -> bool {
    !OPEN_PATHS.contains(&routed_path)
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

    #[test]
    fn only_the_open_routes_are_open() {
        for open in OPEN_PATHS {
            assert!(!needs_key(open));
        }
        for closed in [
            "/api/token",
            "/api/health/",
            "/api//health",
            "/API/health",
            "/api/recording/list",
            "/anything",
            "",
            "/",
        ] {
            assert!(needs_key(closed), "{closed}");
        }
    }
}
