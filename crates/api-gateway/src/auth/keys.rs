//! API keys (`MEMHARBOR_API_KEYS`), compared in constant time, and the short list of routes that
//! need no credentials at all.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Routes anyone may call: health and the API document; `/metrics` (never forwarded by nginx or
/// the Ingress); `/internal/bot-token`, which checks the recorder's internal key itself. Every
/// other path, known or not, needs credentials when auth is on (deny by default).
const OPEN_PATHS: [&str; 4] = [
    "/api/health",
    "/api/openapi.json",
    "/metrics",
    "/internal/bot-token",
];

/// True if `routed_path` needs credentials (when auth is on). `routed_path` must be the path the
/// router matches (`req.match_info().as_str()`: percent-decoded except `%2F`, `%25` and `%2B`),
/// never the raw request path.
pub fn needs_credentials(routed_path: &str) -> bool {
    !OPEN_PATHS.contains(&routed_path)
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// True if `presented` is one of `keys`. Every key is compared, so timing does not reveal which
/// one matched.
pub fn matches(presented: &str, keys: &[SecretString]) -> bool {
    keys.iter().fold(false, |found, key| {
        let key = key.expose_secret().as_bytes();
        let same = key.len() == presented.len() && bool::from(key.ct_eq(presented.as_bytes()));
        found | same
    })
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
        let check = |h: Option<&str>| bearer(h).is_some_and(|t| matches(t, &keys));
        assert!(check(Some("Bearer key-two")));
        assert!(check(Some("bearer k1")));
        assert!(!check(Some("Bearer k")));
        assert!(!check(Some("Basic k1")));
        assert!(!check(Some("k1")));
        assert!(!check(Some("Bearer ")));
        assert!(!check(None));
    }

    #[test]
    fn only_the_open_routes_are_open() {
        for open in OPEN_PATHS {
            assert!(!needs_credentials(open));
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
            assert!(needs_credentials(closed), "{closed}");
        }
    }
}
