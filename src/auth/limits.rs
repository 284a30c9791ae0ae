//! Request rate limits per IP address, keyed as GoTrue keys them: each route family has its own
//! budget, sized by `[auth.rate_limit]` and refilled continuously over its window, so a client
//! that signs up many users does not run out of sign-ins, and the reverse.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::AuthError;
use crate::config::RateLimitConfig;

/// One budget; GoTrue gives each of these routes a limiter of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `POST /signup` with an email or phone: `sign_in_sign_ups` per 5 minutes.
    SignUp,
    /// `POST /signup` without credentials: `anonymous_users` per hour.
    Anonymous,
    /// `POST /otp`: `sign_in_sign_ups` per 5 minutes.
    Otp,
    /// `POST /recover`: `sign_in_sign_ups` per 5 minutes.
    Recover,
    /// `POST /resend`: `sign_in_sign_ups` per 5 minutes.
    Resend,
    /// `PUT /user`: `sign_in_sign_ups` per 5 minutes.
    UserUpdate,
    /// `POST /token`, every grant (password sign-ins too): `token_refresh` per 5 minutes.
    Token,
    /// `GET|POST /verify`: `token_verifications` per 5 minutes.
    Verify,
    /// `POST /factors/{id}/challenge`: GoTrue's `MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY`.
    MfaChallenge,
    /// `POST /factors/{id}/verify`: the same budget, kept apart, so a six-digit code cannot
    /// be guessed by trying them all.
    MfaVerify,
}

/// GoTrue's MFA limit: 15 challenges (and, apart, 15 verifications) a minute, 30 at once.
const MFA_PER_MINUTE: u32 = 15;
const MFA_BURST: u32 = 30;

const BUDGETS: [Budget; 10] = [
    Budget::SignUp,
    Budget::Anonymous,
    Budget::Otp,
    Budget::Recover,
    Budget::Resend,
    Budget::UserUpdate,
    Budget::Token,
    Budget::Verify,
    Budget::MfaChallenge,
    Budget::MfaVerify,
];

/// Keys kept per budget before the ones that have refilled are forgotten.
const KEYS_BEFORE_SWEEP: usize = 10_000;

impl Budget {
    /// The budget's quota, refilled continuously; `None` (a budget of 0) refuses everything.
    fn quota(self, config: &RateLimitConfig) -> Option<Quota> {
        const FIVE_MINUTES: Duration = Duration::from_secs(300);
        let (count, window, burst) = match self {
            Budget::SignUp
            | Budget::Otp
            | Budget::Recover
            | Budget::Resend
            | Budget::UserUpdate => (config.sign_in_sign_ups, FIVE_MINUTES, None),
            Budget::Anonymous => (config.anonymous_users, Duration::from_secs(3600), None),
            Budget::Token => (config.token_refresh, FIVE_MINUTES, None),
            Budget::Verify => (config.token_verifications, FIVE_MINUTES, None),
            Budget::MfaChallenge | Budget::MfaVerify => {
                (MFA_PER_MINUTE, Duration::from_secs(60), Some(MFA_BURST))
            }
        };
        let count = NonZeroU32::new(count)?;
        let burst = burst.and_then(NonZeroU32::new).unwrap_or(count);
        Some(Quota::with_period(window / count.get())?.allow_burst(burst))
    }
}

/// Every budget's limiter; a budget of 0 refuses every request.
pub struct RateLimits {
    limiters: Vec<Option<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let limiters = BUDGETS
            .iter()
            .map(|budget| budget.quota(config).map(RateLimiter::keyed))
            .collect();
        Self { limiters }
    }

    /// Spends one request of `budget` for `ip`, or answers GoTrue's 429.
    pub fn check(&self, budget: Budget, ip: IpAddr) -> Result<(), AuthError> {
        let index = BUDGETS.iter().position(|known| *known == budget);
        let allowed = match index.and_then(|index| self.limiters[index].as_ref()) {
            Some(limiter) => {
                if limiter.len() > KEYS_BEFORE_SWEEP {
                    limiter.retain_recent();
                }
                limiter.check_key(&ip).is_ok()
            }
            None => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "over_request_rate_limit",
                "Request rate limit reached",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sign_in_sign_ups: u32, token_refresh: u32) -> RateLimitConfig {
        RateLimitConfig {
            sign_in_sign_ups,
            token_refresh,
            ..RateLimitConfig::default()
        }
    }

    #[test]
    fn budgets_are_separate_and_per_address() {
        let limits = RateLimits::new(&config(2, 3));
        let (one, two): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.check(Budget::SignUp, one).is_ok());
        assert!(limits.check(Budget::SignUp, one).is_ok());
        let refused = limits.check(Budget::SignUp, one).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "over_request_rate_limit");
        // Another address, and another budget of the same address, are untouched.
        assert!(limits.check(Budget::SignUp, two).is_ok());
        assert!(limits.check(Budget::Otp, one).is_ok());
        for _ in 0..3 {
            assert!(limits.check(Budget::Token, one).is_ok());
        }
        assert!(limits.check(Budget::Token, one).is_err());
    }

    #[test]
    fn mfa_challenges_and_verifications_have_gotrues_budget_each() {
        let limits = RateLimits::new(&RateLimitConfig::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MFA_BURST {
            assert!(limits.check(Budget::MfaVerify, ip).is_ok());
        }
        assert!(limits.check(Budget::MfaVerify, ip).is_err());
        assert!(limits.check(Budget::MfaChallenge, ip).is_ok());
    }

    #[test]
    fn a_budget_of_zero_refuses_everything() {
        let limits = RateLimits::new(&config(0, 3));
        assert!(
            limits
                .check(Budget::SignUp, "10.0.0.1".parse().unwrap())
                .is_err()
        );
    }
}
