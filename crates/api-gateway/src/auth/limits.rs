//! Abuse limits for users (who are untrusted): a token bucket per user on `POST /api/token` and
//! on recording starts (`governor`), and a cap on the recordings a user has running at once.
//! Trusted callers (API keys, auth off, admins) are not limited. With several gateways each
//! keeps its own buckets (documented): a user's budget is per gateway.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::Caller;

/// Too many: a 429 with this code and message, and `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub code: &'static str,
    pub message: &'static str,
    pub retry_after_s: u64,
}

/// The limits' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// `MEMHARBOR_RATE_TOKENS_PER_MIN`: tokens a user may get per minute (0 = no limit).
    pub tokens_per_min: u32,
    /// `MEMHARBOR_RATE_STARTS_PER_MIN`: recording starts per user per minute (0 = no limit).
    pub starts_per_min: u32,
    /// `MEMHARBOR_MAX_RECORDINGS_PER_USER`: recordings of a user's channels running at once.
    pub max_recordings_per_user: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            tokens_per_min: 60,
            starts_per_min: 10,
            max_recordings_per_user: 2,
        }
    }
}

#[derive(Debug)]
pub struct Limits {
    tokens: Option<DefaultKeyedRateLimiter<String>>,
    starts: Option<DefaultKeyedRateLimiter<String>>,
    pub max_recordings_per_user: u32,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)))
}

fn too_many(code: &'static str, message: &'static str, wait: Duration) -> Limited {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    Limited {
        code,
        message,
        retry_after_s: secs,
    }
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            tokens: limiter(settings.tokens_per_min),
            starts: limiter(settings.starts_per_min),
            max_recordings_per_user: settings.max_recordings_per_user,
        }
    }

    fn check(
        limiter: Option<&DefaultKeyedRateLimiter<String>>,
        caller: &Caller,
        message: &'static str,
    ) -> Result<(), Limited> {
        let (Some(limiter), Some(uid)) = (limiter, caller.restricted_to()) else {
            return Ok(());
        };
        limiter.check_key(&uid.to_owned()).map_err(|not_until| {
            too_many(
                "rate_limited",
                message,
                not_until.wait_time_from(limiter.clock().now()),
            )
        })
    }

    /// One more token for `caller`, or 429 with `Retry-After`.
    pub fn token(&self, caller: &Caller) -> Result<(), Limited> {
        Self::check(
            self.tokens.as_ref(),
            caller,
            "too many token requests; retry after the time Retry-After gives",
        )
    }

    /// One more recording start for `caller`, or 429 with `Retry-After`.
    pub fn start(&self, caller: &Caller) -> Result<(), Limited> {
        Self::check(
            self.starts.as_ref(),
            caller,
            "too many recording starts; retry after the time Retry-After gives",
        )
    }

    /// 429 when a user already has as many recordings running as allowed.
    pub fn recordings(&self, running: usize) -> Result<(), Limited> {
        if running >= self.max_recordings_per_user as usize {
            return Err(too_many(
                "too_many_recordings",
                "you already have as many recordings running as allowed; stop one first",
                Duration::from_secs(10),
            ));
        }
        Ok(())
    }

    /// Forgets the buckets of users who have not called for a while (bounded memory); run it
    /// now and then.
    pub fn forget_idle(&self) {
        for limiter in [&self.tokens, &self.starts].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
