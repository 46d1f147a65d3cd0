//! Rate limits by route class (GCRA token buckets from `governor`, one bucket per key).
//!
//! A request is counted against its bearer token (sha256) when the class is per token and
//! the request has one, else against its client address ([`super::client::client_ip`]).
//! Past the limit the answer is 429 in the API's error form with `Retry-After` (seconds
//! until the bucket has room again).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use super::client::{address_key, client_ip};
use crate::config::{Rate, RateLimitSettings};
use crate::error::ApiError;

/// The classes of routes that have a rate of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `POST /api/sessions` (per address).
    Sessions,
    /// Login, sign-up and link (per address).
    Auth,
    /// Drawing uploads (per token).
    Uploads,
    /// The inference API (per token, or per address without one).
    Inference,
    /// The admin API (per token).
    Admin,
}

impl RouteClass {
    /// All classes.
    pub const ALL: [Self; 5] = [
        Self::Sessions,
        Self::Auth,
        Self::Uploads,
        Self::Inference,
        Self::Admin,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn per_token(self) -> bool {
        matches!(self, Self::Uploads | Self::Inference | Self::Admin)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Sessions => "session creations",
            Self::Auth => "sign-in attempts",
            Self::Uploads => "drawing uploads",
            Self::Inference => "inference requests",
            Self::Admin => "admin requests",
        }
    }

    fn rate(self, s: &RateLimitSettings) -> Rate {
        match self {
            Self::Sessions => s.sessions,
            Self::Auth => s.auth,
            Self::Uploads => s.uploads,
            Self::Inference => s.inference,
            Self::Admin => s.admin,
        }
    }
}

/// The limiters of every class, shared by the router's layers.
#[derive(Clone)]
pub struct RateLimits {
    inner: Arc<Inner>,
}

struct Inner {
    limiters: Option<Vec<DefaultKeyedRateLimiter<String>>>,
    trusted_proxies: Vec<IpNet>,
    clock: DefaultClock,
}

fn quota(rate: Rate) -> Quota {
    let per_minute = NonZeroU32::new(rate.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl RateLimits {
    /// Limiters for `settings` (none at all when disabled); `trusted_proxies` decide whose
    /// `X-Forwarded-For` is believed.
    pub fn new(settings: &RateLimitSettings, trusted_proxies: Vec<IpNet>) -> Self {
        let limiters = settings.enabled.then(|| {
            RouteClass::ALL
                .iter()
                .map(|c| RateLimiter::keyed(quota(c.rate(settings))))
                .collect()
        });
        Self {
            inner: Arc::new(Inner {
                limiters,
                trusted_proxies,
                clock: DefaultClock::default(),
            }),
        }
    }

    /// Counts one request of `class` for `key`; `Err(wait)` when over the limit.
    ///
    /// # Errors
    /// The time until the key's bucket has room again.
    pub fn check(&self, class: RouteClass, key: &str) -> Result<(), Duration> {
        let Some(limiters) = &self.inner.limiters else {
            return Ok(());
        };
        limiters[class.index()]
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock.now()))
    }

    /// The trusted proxies (for [`client_ip`]).
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.inner.trusted_proxies
    }

    /// Forgets keys whose buckets are full again, every minute, so memory follows the
    /// number of recently active clients rather than all clients ever seen.
    pub fn spawn_purge(&self) {
        if self.inner.limiters.is_none() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Some(limiters) = &me.inner.limiters {
                    for l in limiters {
                        l.retain_recent();
                        l.shrink_to_fit();
                    }
                }
                if Arc::strong_count(&me.inner) == 1 {
                    break;
                }
            }
        });
    }
}

/// Middleware of one route class (`from_fn_with_state((limits, class), limit)`).
pub async fn limit(
    State((limits, class)): State<(RateLimits, RouteClass)>,
    request: Request,
    next: Next,
) -> Response {
    if limits.inner.limiters.is_none() {
        return next.run(request).await;
    }
    let token = class
        .per_token()
        .then(|| crate::players::auth::bearer_token(request.headers()).ok())
        .flatten();
    let (key, whom) = match token {
        Some(t) => (
            format!("t:{}", crate::players::auth::token_hash(t)),
            "token",
        ),
        None => {
            let ip = client_ip(
                request.extensions().get::<ConnectInfo<SocketAddr>>(),
                request.headers(),
                limits.trusted_proxies(),
            );
            (format!("a:{}", address_key(ip)), "address")
        }
    };
    match limits.check(class, &key) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let error = ApiError::TooManyRequests {
                message: format!(
                    "too many {} from this {whom}; retry in {} s",
                    class.describe(),
                    retry_after_secs.max(1)
                ),
                retry_after_secs,
            };
            crate::inference::oip::guard_error(request.uri().path(), error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_429_then_room_again() {
        let settings = RateLimitSettings {
            sessions: Rate {
                per_minute: 600,
                burst: 3,
            },
            ..RateLimitSettings::default()
        };
        let limits = RateLimits::new(&settings, Vec::new());
        for _ in 0..3 {
            assert!(limits.check(RouteClass::Sessions, "a:192.0.2.1").is_ok());
        }
        let wait = limits
            .check(RouteClass::Sessions, "a:192.0.2.1")
            .expect_err("the fourth is over the burst");
        // 600 a minute: one every 100 ms.
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Another address has its own bucket; another class too.
        assert!(limits.check(RouteClass::Sessions, "a:192.0.2.2").is_ok());
        assert!(limits.check(RouteClass::Auth, "a:192.0.2.1").is_ok());
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(limits.check(RouteClass::Sessions, "a:192.0.2.1").is_ok());
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let settings = RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        };
        let limits = RateLimits::new(&settings, Vec::new());
        for _ in 0..10_000 {
            assert!(limits.check(RouteClass::Auth, "a:192.0.2.1").is_ok());
        }
    }
}
