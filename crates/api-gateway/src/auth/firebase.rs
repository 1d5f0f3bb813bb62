//! Firebase ID tokens, verified as Google's Admin SDKs do: RS256 only, a `kid` from Google's key
//! set, `aud` = the Firebase project, `iss` = `https://securetoken.google.com/<project>`, a
//! non-empty `sub` of at most 128 characters, `exp` in the future and `iat` / `auth_time` in the
//! past, with [`CLOCK_SKEW_S`] of clock skew. The only module that uses `jsonwebtoken`.
//!
//! The key set (a JWK set at `MEMHARBOR_AUTH_KEYS_URL`) is cached as its `Cache-Control: max-age`
//! says and fetched again for an unknown `kid` — at most once per [`REFETCH_INTERVAL`], so a flood
//! of tokens with made-up kids cannot make the gateway hammer Google. The Auth emulator's unsigned
//! tokens (`alg: none`) are accepted only when `FIREBASE_AUTH_EMULATOR_HOST` is set.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use super::Rejection;

/// Clock skew allowed on `exp`, `iat` and `auth_time` (Google's Go SDK allows 300 s, Python up
/// to 60; 60 s covers honest clocks and keeps an expired token expired).
pub const CLOCK_SKEW_S: u64 = 60;
/// The key set is fetched again for an unknown `kid` no more often than this.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Used when the key set's answer has no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Google's JWK set of Firebase Auth's signing keys.
pub const GOOGLE_KEYS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// How ID tokens are checked.
#[derive(Debug, Clone)]
pub struct FirebaseAuthSettings {
    pub project_id: String,
    pub keys_url: String,
    /// The claim holding the user's id (default `sub`, the Firebase uid).
    pub user_claim: Option<String>,
    /// `FIREBASE_AUTH_EMULATOR_HOST` is set: unsigned emulator tokens are accepted.
    pub emulator: bool,
    /// The key set is fetched again for an unknown `kid` no more often than this
    /// ([`REFETCH_INTERVAL`]; tests shorten it).
    pub refetch_interval: Duration,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    /// The user's id: `sub`, or the configured claim.
    pub uid: String,
    /// The custom claim `memharbor_admin: true`.
    pub admin: bool,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    #[serde(default)]
    auth_time: Option<u64>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    expires_at: Option<Instant>,
}

/// Verifies ID tokens against a project; keeps the key set.
pub struct FirebaseVerifier {
    settings: FirebaseAuthSettings,
    issuer: String,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// When the key set was last fetched; held while fetching, so fetches never overlap.
    last_fetch: Mutex<Option<Instant>>,
    /// Key-set fetches so far (operators and tests watch the rate limit with it).
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for FirebaseVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirebaseVerifier")
            .field("project_id", &self.settings.project_id)
            .finish_non_exhaustive()
    }
}

impl FirebaseVerifier {
    pub fn new(settings: FirebaseAuthSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            issuer: format!("https://securetoken.google.com/{}", settings.project_id),
            settings,
            http,
            cache: RwLock::default(),
            last_fetch: Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many times the key set was fetched.
    pub fn key_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The user a token belongs to, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<TokenUser, Rejection> {
        let alg = header_alg(token).ok_or(Rejection::Malformed)?;
        let claims = if alg == "none" {
            if !self.settings.emulator {
                return Err(Rejection::BadAlgorithm);
            }
            let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token)
                .map_err(|_| Rejection::Malformed)?;
            self.check_unsigned(&claims)?;
            claims
        } else {
            let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
            if header.alg != Algorithm::RS256 {
                return Err(Rejection::BadAlgorithm);
            }
            let kid = header.kid.ok_or(Rejection::UnknownKey)?;
            let key = self.key(&kid).await?;
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation())
                .map_err(|e| rejection(e.kind()))?
                .claims
        };
        self.check_claims(&claims)?;
        let uid = match &self.settings.user_claim {
            None => claims.sub.clone(),
            Some(name) => claims
                .extra
                .get(name)
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .ok_or(Rejection::MissingUserClaim)?,
        };
        let admin = claims.extra.get("memharbor_admin") == Some(&Value::Bool(true));
        Ok(TokenUser { uid, admin })
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[&self.settings.project_id]);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        v.leeway = CLOCK_SKEW_S;
        v
    }

    /// What the library does not check: `sub`'s length, `iat` and `auth_time` in the past.
    fn check_claims(&self, claims: &Claims) -> Result<(), Rejection> {
        if claims.sub.is_empty() || claims.sub.chars().count() > 128 {
            return Err(Rejection::BadSubject);
        }
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + CLOCK_SKEW_S
            || claims.auth_time.is_some_and(|t| t > now + CLOCK_SKEW_S)
        {
            return Err(Rejection::NotYetValid);
        }
        Ok(())
    }

    /// An emulator token has no signature: its audience, issuer and expiry are still checked.
    fn check_unsigned(&self, claims: &Claims) -> Result<(), Rejection> {
        let aud_ok = match &claims.aud {
            Some(Value::String(aud)) => *aud == self.settings.project_id,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.settings.project_id.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(Rejection::WrongAudience);
        }
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
        let now = jsonwebtoken::get_current_timestamp();
        match claims.exp {
            Some(exp) if exp + CLOCK_SKEW_S >= now => Ok(()),
            Some(_) => Err(Rejection::Expired),
            None => Err(Rejection::Malformed),
        }
    }

    /// The key for `kid`: cached, or fetched (within the refetch rate limit).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        if let Some(key) = self.cached(kid, true).await {
            return Ok(key);
        }
        let mut last = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid, true).await {
            return Ok(key);
        }
        let expired = self
            .cache
            .read()
            .await
            .expires_at
            .is_none_or(|at| Instant::now() >= at);
        let recent = last.is_some_and(|at| at.elapsed() < self.settings.refetch_interval);
        if expired || !recent {
            *last = Some(Instant::now());
            match self.fetch().await {
                Ok(fresh) => *self.cache.write().await = fresh,
                Err(e) => tracing::warn!(error = %e, "cannot fetch the Firebase key set"),
            }
        }
        drop(last);
        match self.cached(kid, false).await {
            Some(key) => Ok(key),
            None if self.cache.read().await.keys.is_empty() => Err(Rejection::KeysUnavailable),
            None => Err(Rejection::UnknownKey),
        }
    }

    /// A cached key; `fresh_only` refuses an expired cache (so it is fetched again).
    async fn cached(&self, kid: &str, fresh_only: bool) -> Option<DecodingKey> {
        let cache = self.cache.read().await;
        let fresh = cache.expires_at.is_some_and(|at| Instant::now() < at);
        (fresh || !fresh_only)
            .then(|| cache.keys.get(kid).cloned())
            .flatten()
    }

    async fn fetch(&self) -> Result<KeyCache, String> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = self
            .http
            .get(&self.settings.keys_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the key set answered {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| {
                jwk.common
                    .key_algorithm
                    .is_none_or(|a| a == KeyAlgorithm::RS256)
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok(KeyCache {
            keys,
            expires_at: Some(Instant::now() + max_age),
        })
    }
}

/// The `alg` of a token's header, read without trusting anything else in it.
fn header_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

/// `max-age=N` of a `Cache-Control` header.
fn max_age(header: &str) -> Option<Duration> {
    header.split(',').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        (name.eq_ignore_ascii_case("max-age"))
            .then(|| value.trim().parse().ok().map(Duration::from_secs))
            .flatten()
    })
}

fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidSubject => Rejection::BadSubject,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => Rejection::BadAlgorithm,
        _ => Rejection::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19302, must-revalidate, no-transform"),
            Some(Duration::from_secs(19_302))
        );
        assert_eq!(max_age("no-cache"), None);
    }

    #[test]
    fn the_header_is_read_without_trusting_it() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            header_alg(&format!("{header}.e30.")).as_deref(),
            Some("none")
        );
        assert_eq!(header_alg("garbage"), None);
    }
}
