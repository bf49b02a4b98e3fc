//! API Gateway's throttles as token buckets ("a token counts for a request", as AWS describes
//! them).
//!
//! - The account's, for the `@connections` API: on AWS every API Gateway request of an
//!   account in a Region draws from one bucket (10,000 requests/s, burst 5,000 by default),
//!   the management API's included; a request that finds it empty gets 429
//!   `LimitExceededException`. Off by default locally; `--throttle-rps` and
//!   `--throttle-burst` turn it on so the fan-out can be measured against the limit it meets.
//! - The stage's default route throttling ([`RouteThrottle`]), for the frames clients send:
//!   on by default with the deployed values.

use std::sync::Mutex;

use tokio::time::Instant;
use wspush_contract::routes;

use crate::config::Throttle;

/// A token bucket: `burst` tokens at most, refilled at `rate` tokens a second.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: rate_per_sec.max(0.0),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&self) -> bool {
        // Poisoning leaves two floats consistent enough for a rate limiter.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The stage's default route throttling: one bucket per route, each with the stage's rate and
/// burst, shared by every connection of the stage.
///
/// The scope is AWS's: stage and route throttling are set per stage ("for a specific stage or
/// for individual routes"; "per-API, per-stage throttling limits are applied at the API method
/// level for a stage"), so each route of the stage has its limit, and it counts the requests of
/// all clients together; WebSocket APIs have no per-client limits (usage plans are REST
/// only). One client sending `ping` as fast as it can therefore throttles everyone's `ping`,
/// as on AWS, while `subscribe` keeps its own bucket.
#[derive(Debug)]
pub struct RouteThrottle {
    /// `(route key, its bucket)` for each route a client frame can select; empty when off.
    buckets: Vec<(&'static str, TokenBucket)>,
}

impl RouteThrottle {
    /// The stage's buckets, or none (every frame admitted) without route throttling.
    pub fn new(throttle: Option<&Throttle>) -> Self {
        let buckets = throttle
            .map(|t| {
                routes::ALL
                    .into_iter()
                    .map(|route| (route, TokenBucket::new(t.rate_per_sec, t.burst)))
                    .collect()
            })
            .unwrap_or_default();
        Self { buckets }
    }

    /// Takes a token of `route`'s bucket if there is one (always, when there are no buckets).
    pub fn admits(&self, route: &str) -> bool {
        self.buckets
            .iter()
            .find(|(key, _)| *key == route)
            .is_none_or(|(_, bucket)| bucket.try_take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_burst_then_the_rate() {
        let bucket = TokenBucket::new(10.0, 5);
        let taken = (0..20).filter(|_| bucket.try_take()).count();
        assert_eq!(taken, 5, "the burst");
        tokio::time::advance(Duration::from_millis(500)).await;
        let taken = (0..20).filter(|_| bucket.try_take()).count();
        assert_eq!(taken, 5, "half a second at 10/s");
        tokio::time::advance(Duration::from_secs(60)).await;
        let taken = (0..20).filter(|_| bucket.try_take()).count();
        assert_eq!(taken, 5, "never more than the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn each_route_has_its_own_bucket_for_every_client() {
        let throttle = RouteThrottle::new(Some(&Throttle {
            rate_per_sec: 1.0,
            burst: 2,
        }));
        assert!(throttle.admits("ping") && throttle.admits("ping"));
        assert!(!throttle.admits("ping"), "the burst of 2 is spent");
        assert!(
            throttle.admits("subscribe"),
            "another route, another bucket"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(throttle.admits("ping"), "a second at 1/s");

        let off = RouteThrottle::new(None);
        assert!((0..10_000).all(|_| off.admits("ping")));
    }
}
