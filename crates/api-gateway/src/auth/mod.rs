//! Who is calling. `MEMHARBOR_AUTH` chooses what the gateway accepts: nothing (`none`: local
//! development), API keys (`keys`: trusted servers), Firebase ID tokens (`firebase`: the app's
//! users), or both. The gate authenticates every request that is not on the short open list once,
//! on the path as the router matches it, and hands the [`Caller`] to the handlers; `access` says
//! what each caller may do, `limits` how often.

pub mod access;
pub mod firebase;
pub mod keys;
pub mod limits;

use std::sync::Arc;

use actix_web::http::StatusCode;
use secrecy::SecretString;

use firebase::FirebaseVerifier;

/// What `MEMHARBOR_AUTH` turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthModes {
    /// `Authorization: Bearer <API key>`: a trusted server.
    pub keys: bool,
    /// `Authorization: Bearer <Firebase ID token>`: an app user.
    pub firebase: bool,
}

impl AuthModes {
    /// `none`: anyone may call anything.
    pub fn is_open(self) -> bool {
        !self.keys && !self.firebase
    }
}

/// A restricted caller: an app user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id (`sub`, or `MEMHARBOR_AUTH_USER_CLAIM`): what the recording channel's
    /// `user1` / `user2` name.
    pub uid: String,
}

/// Who is calling, as the gate found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off (`MEMHARBOR_AUTH=none`): everything, as the original server allowed.
    Anyone,
    /// An API key, or a user with the `memharbor_admin` claim: everything.
    Trusted,
    /// An app user: their own channels and recordings only.
    User(User),
}

impl Caller {
    /// The user whose data alone this caller may touch; `None` for a trusted caller.
    pub fn restricted_to(&self) -> Option<&str> {
        match self {
            Caller::User(user) => Some(&user.uid),
            Caller::Anyone | Caller::Trusted => None,
        }
    }

    /// How the request log names the caller (never a credential).
    pub fn log_name(&self) -> Option<&str> {
        self.restricted_to()
    }
}

/// Why a request's credentials were refused. Each has its own error code; the metrics count
/// them by [`Rejection::reason`] (no user labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization: Bearer …`.
    Missing,
    /// Not one of the API keys (and ID tokens are not accepted).
    InvalidKey,
    /// Not a JWT, or not one with the claims an ID token has.
    Malformed,
    /// Not RS256 (`none` without the emulator, HS256: the algorithm-confusion attack).
    BadAlgorithm,
    /// Its `kid` is not in Google's key set.
    UnknownKey,
    BadSignature,
    Expired,
    /// `iat` or `auth_time` in the future.
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    /// `sub` empty or longer than 128 characters.
    BadSubject,
    /// `MEMHARBOR_AUTH_USER_CLAIM` names a claim the token lacks.
    MissingUserClaim,
    /// Google's key set could not be fetched (503: not the caller's fault).
    KeysUnavailable,
}

impl Rejection {
    /// The metrics' `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::InvalidKey => "invalid_key",
            Rejection::Malformed => "malformed",
            Rejection::BadAlgorithm => "bad_algorithm",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::BadSubject => "bad_subject",
            Rejection::MissingUserClaim => "missing_user_claim",
            Rejection::KeysUnavailable => "keys_unavailable",
        }
    }

    /// The error code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Missing | Rejection::InvalidKey => "unauthorized",
            Rejection::Malformed => "token_malformed",
            Rejection::BadAlgorithm => "token_bad_algorithm",
            Rejection::UnknownKey => "token_unknown_key",
            Rejection::BadSignature => "token_bad_signature",
            Rejection::Expired => "token_expired",
            Rejection::NotYetValid => "token_not_yet_valid",
            Rejection::WrongAudience => "token_wrong_audience",
            Rejection::WrongIssuer => "token_wrong_issuer",
            Rejection::BadSubject => "token_bad_subject",
            Rejection::MissingUserClaim => "token_missing_user_claim",
            Rejection::KeysUnavailable => "auth_unavailable",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Rejection::Missing | Rejection::InvalidKey => {
                "this API needs credentials: send Authorization: Bearer <key or Firebase ID token>"
            }
            Rejection::Malformed => "the bearer token is not a Firebase ID token",
            Rejection::BadAlgorithm => "the ID token is not signed with RS256",
            Rejection::UnknownKey => {
                "the ID token's signing key (kid) is not one of Firebase's; get a fresh token"
            }
            Rejection::BadSignature => "the ID token's signature does not verify",
            Rejection::Expired => "the ID token has expired; get a fresh one from Firebase Auth",
            Rejection::NotYetValid => "the ID token is not valid yet (issued in the future)",
            Rejection::WrongAudience => "the ID token is for another Firebase project",
            Rejection::WrongIssuer => {
                "the ID token was not issued by Firebase Auth for this project"
            }
            Rejection::BadSubject => "the ID token's subject (sub) is empty or too long",
            Rejection::MissingUserClaim => "the ID token lacks the claim that names the user",
            Rejection::KeysUnavailable => {
                "ID tokens cannot be verified right now (Firebase's keys are unreachable); retry shortly"
            }
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Rejection::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Checks a request's credentials against what `MEMHARBOR_AUTH` accepts.
#[derive(Debug)]
pub struct Authenticator {
    modes: AuthModes,
    keys: Arc<[SecretString]>,
    firebase: Option<FirebaseVerifier>,
}

impl Authenticator {
    pub fn new(
        modes: AuthModes,
        keys: Arc<[SecretString]>,
        firebase: Option<FirebaseVerifier>,
    ) -> Self {
        Self {
            modes,
            keys,
            firebase,
        }
    }

    pub fn modes(&self) -> AuthModes {
        self.modes
    }

    pub fn firebase(&self) -> Option<&FirebaseVerifier> {
        self.firebase.as_ref()
    }

    /// What can be decided without waiting: auth off, an API key, or a refusal when ID tokens are
    /// not accepted. `None`: the bearer token is to be verified as an ID token.
    pub fn decide_now(&self, authorization: Option<&str>) -> Option<Result<Caller, Rejection>> {
        if self.modes.is_open() {
            return Some(Ok(Caller::Anyone));
        }
        let Some(bearer) = keys::bearer(authorization) else {
            return Some(Err(Rejection::Missing));
        };
        if self.modes.keys && keys::matches(bearer, &self.keys) {
            return Some(Ok(Caller::Trusted));
        }
        if self.modes.firebase && self.firebase.is_some() {
            None
        } else {
            Some(Err(Rejection::InvalidKey))
        }
    }

    /// Who sent `authorization` (the header's value).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, Rejection> {
        if self.modes.is_open() {
            return Ok(Caller::Anyone);
        }
        let bearer = keys::bearer(authorization).ok_or(Rejection::Missing)?;
        if self.modes.keys && keys::matches(bearer, &self.keys) {
            return Ok(Caller::Trusted);
        }
        match &self.firebase {
            Some(verifier) if self.modes.firebase => {
                let user = verifier.verify(bearer).await?;
                Ok(if user.admin {
                    Caller::Trusted
                } else {
                    Caller::User(User { uid: user.uid })
                })
            }
            _ => Err(Rejection::InvalidKey),
        }
    }
}
