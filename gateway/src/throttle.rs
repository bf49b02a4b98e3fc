//! API Gateway's account-level throttle as a token bucket, for the `@connections` API.
//!
//! On AWS every API Gateway request of an account in a Region draws from one bucket (10,000
//! requests/s, burst 5,000 by default), the management API's included; a request that finds it
//! empty gets 429 `LimitExceededException`. Off by default locally; `--throttle-rps` and
//! `--throttle-burst` turn it on so the fan-out can be measured against the limit it meets.

use std::sync::Mutex;

use tokio::time::Instant;

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
}
