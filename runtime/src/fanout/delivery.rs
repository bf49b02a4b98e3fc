//! Sending one frame to many connections, and counting what happened to each.
//!
//! The [`adaptive`](super::adaptive) limit decides how many PostToConnection calls are in flight
//! and how fast they start; throttling and 5xx are retried here with jittered backoff, and a 410
//! Gone connection is removed from the store, since no frame will ever reach it again.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use rand::Rng;
use serde::Serialize;
use wspush_contract::defaults;

use super::adaptive::{AdaptiveLimit, Bounds, Signal};
use crate::config::PushSettings;
use crate::push::{PushOutcome, Pusher};
use crate::store::ConnectionStore;

/// What happened to one event's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub recipients: usize,
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
    /// Recipients whose token had expired: closed, not pushed to ([`super::expiry`]).
    pub expired: usize,
    /// PostToConnection calls answered 429 (each retried).
    pub throttled: usize,
    /// Recipients handed to the pushers in push batches, not pushed by this invocation.
    pub queued: usize,
    /// Push batches enqueued for them.
    pub batches: usize,
}

/// Sends `frame` to every connection in `recipients` (duplicates removed), with at most
/// `settings.concurrency` calls in flight, fewer when latency rises, paced when throttled.
pub async fn fan_out(
    store: &dyn ConnectionStore,
    pusher: &dyn Pusher,
    settings: &PushSettings,
    recipients: Vec<String>,
    frame: &[u8],
) -> Tally {
    let limit = AdaptiveLimit::new(bounds(settings));
    fan_out_within(store, pusher, settings, &limit, recipients, frame).await
}

/// [`fan_out`] under a limit shared with other fan-outs: the push batches one pusher
/// invocation handles together keep within one window and one rate.
pub async fn fan_out_within(
    store: &dyn ConnectionStore,
    pusher: &dyn Pusher,
    settings: &PushSettings,
    limit: &AdaptiveLimit,
    mut recipients: Vec<String>,
    frame: &[u8],
) -> Tally {
    recipients.sort_unstable();
    recipients.dedup();
    let unique = recipients;
    let mut tally = Tally {
        recipients: unique.len(),
        ..Tally::default()
    };
    let throttled_before = limit.stats().throttled;
    // Every recipient may be waiting for a slot; the adaptive limit decides how many run.
    let outcomes = stream::iter(unique)
        .map(|connection_id| async move {
            let outcome = push_with_retries(pusher, limit, settings, &connection_id, frame).await;
            if outcome == PushOutcome::Gone {
                forget_gone(store, &connection_id).await;
            }
            outcome
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for outcome in outcomes {
        match outcome {
            PushOutcome::Delivered => tally.delivered += 1,
            PushOutcome::Gone => tally.gone += 1,
            _ => tally.failed += 1,
        }
    }
    let stats = limit.stats();
    tally.throttled = stats.throttled.saturating_sub(throttled_before);
    tracing::info!(
        recipients = tally.recipients,
        throttled = tally.throttled,
        peak_concurrency = stats.peak_concurrency,
        window_cuts = stats.window_cuts,
        rate_cuts = stats.rate_cuts,
        rate = stats.rate,
        "adaptive limit"
    );
    tally
}

/// Frames for one connection, sent one after another in the order given, each retried and
/// paced as a fan-out's push is: a resume's replay.
pub struct InOrder<'a> {
    pusher: &'a dyn Pusher,
    settings: &'a PushSettings,
    limit: AdaptiveLimit,
    connection_id: &'a str,
}

impl<'a> InOrder<'a> {
    pub fn new(pusher: &'a dyn Pusher, settings: &'a PushSettings, connection_id: &'a str) -> Self {
        Self {
            pusher,
            settings,
            limit: AdaptiveLimit::new(bounds(settings)),
            connection_id,
        }
    }

    /// Sends one frame once it is this connection's turn; the outcome of its last attempt.
    pub async fn send(&self, frame: &[u8]) -> PushOutcome {
        push_with_retries(
            self.pusher,
            &self.limit,
            self.settings,
            self.connection_id,
            frame,
        )
        .await
    }
}

/// The adaptive limit's bounds: the configured push settings, and the contract's floor rate.
pub(super) fn bounds(settings: &PushSettings) -> Bounds {
    Bounds {
        min_concurrency: settings.min_concurrency,
        initial_concurrency: settings.initial_concurrency,
        max_concurrency: settings.concurrency,
        max_rate: settings.max_rate.map(f64::from),
        min_rate: f64::from(defaults::PUSH_MIN_RATE),
    }
}

/// How many 429s count as one attempt of `PUSH_MAX_ATTEMPTS`.
const THROTTLES_PER_ATTEMPT: u32 = 4;

async fn push_with_retries(
    pusher: &dyn Pusher,
    limit: &AdaptiveLimit,
    settings: &PushSettings,
    connection_id: &str,
    frame: &[u8],
) -> PushOutcome {
    let (mut attempt, mut throttled) = (0, 0);
    loop {
        let permit = limit.acquire().await;
        let outcome = pusher.post_to_connection(connection_id, frame).await;
        limit.finish(permit, signal(&outcome));
        attempt += 1;
        // A 429 says the account is busy, not that this connection is broken: the pacing
        // answers it, and it costs an attempt only every THROTTLES_PER_ATTEMPT times, so an
        // unlucky connection is not given up while everyone else gets through.
        if matches!(outcome, PushOutcome::Throttled(_)) {
            throttled += 1;
            if throttled % THROTTLES_PER_ATTEMPT != 0 {
                attempt -= 1;
            }
        }
        if !outcome.is_retryable() || attempt >= settings.max_attempts {
            if outcome != PushOutcome::Delivered && outcome != PushOutcome::Gone {
                tracing::warn!(%connection_id, attempt, ?outcome, "push failed");
            }
            return outcome;
        }
        if let PushOutcome::Unavailable(reason) = &outcome {
            tracing::debug!(%connection_id, attempt, %reason, "push attempt failed, retrying");
        }
        tokio::time::sleep(backoff(settings, attempt)).await;
    }
}

/// Deletes the records of a connection `@connections` called gone. TTL removes what is not
/// deleted here, so nothing fails; the push itself is settled.
async fn forget_gone(store: &dyn ConnectionStore, connection_id: &str) {
    match store.delete_connection(connection_id).await {
        Ok(removal) if !removal.is_complete() => tracing::warn!(
            %connection_id,
            left = removal.left,
            read_all = removal.read_all,
            "gone connection's records left to TTL (more than `left` unless read_all)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(%connection_id, error = %e, "could not delete gone connection"),
    }
}

/// What a call's outcome tells the adaptive limit.
fn signal(outcome: &PushOutcome) -> Signal {
    match outcome {
        PushOutcome::Delivered | PushOutcome::Gone | PushOutcome::Rejected(_) => Signal::Answered,
        PushOutcome::Throttled(_) => Signal::Throttled,
        PushOutcome::Unavailable(_) => Signal::Failed,
    }
}

/// "Full jitter" backoff: a random wait up to `base * 2^attempt`, capped.
fn backoff(settings: &PushSettings, attempt: u32) -> Duration {
    let ceiling = settings
        .backoff_base
        .saturating_mul(1 << attempt.min(16))
        .min(settings.backoff_cap);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::MemoryStore;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use tokio::time::Instant;
    use wspush_contract::env;

    /// `@connections` behind an account throttle: a token bucket answering 429 when empty,
    /// every call taking `latency`; counts deliveries per connection.
    struct ThrottledApi {
        rate: f64,
        burst: f64,
        latency: Duration,
        bucket: Mutex<(f64, Instant)>,
        delivered: Mutex<std::collections::HashMap<String, usize>>,
    }

    impl ThrottledApi {
        fn new(rate: f64, burst: f64, latency: Duration) -> Self {
            Self {
                rate,
                burst,
                latency,
                bucket: Mutex::new((burst, Instant::now())),
                delivered: Mutex::default(),
            }
        }
    }

    #[async_trait]
    impl Pusher for ThrottledApi {
        async fn post_to_connection(&self, connection_id: &str, _data: &[u8]) -> PushOutcome {
            tokio::time::sleep(self.latency).await;
            let now = Instant::now();
            let allowed = {
                let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
                b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * self.rate).min(self.burst);
                b.1 = now;
                if b.0 >= 1.0 {
                    b.0 -= 1.0;
                    true
                } else {
                    false
                }
            };
            if !allowed {
                return PushOutcome::Throttled("Rate exceeded".into());
            }
            *self
                .delivered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(connection_id.to_string())
                .or_default() += 1;
            PushOutcome::Delivered
        }

        async fn delete_connection(&self, _connection_id: &str) -> PushOutcome {
            PushOutcome::Gone
        }
    }

    async fn throttled_fan_out(n: usize, rate: f64, burst: f64, latency: Duration) -> (Tally, f64) {
        let api = ThrottledApi::new(rate, burst, latency);
        let store = MemoryStore::new();
        let recipients: Vec<String> = (0..n).map(|i| format!("c{i}=")).collect();
        let started = Instant::now();
        let tally = fan_out(&store, &api, &PushSettings::default(), recipients, b"{}").await;
        let elapsed = started.elapsed().as_secs_f64();
        let delivered = api.delivered.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(delivered.len(), tally.delivered);
        assert!(
            delivered.values().all(|&copies| copies == 1),
            "one copy each"
        );
        (tally, elapsed)
    }

    #[tokio::test(start_paused = true)]
    async fn under_a_throttle_everyone_is_delivered_near_the_bucket_rate() {
        let (tally, elapsed) =
            throttled_fan_out(10_000, 2_000.0, 1_000.0, Duration::from_millis(1)).await;
        let ideal = 9_000.0 / 2_000.0;
        eprintln!("{tally:?} in {elapsed:.2} s (ideal {ideal:.2} s)");
        assert_eq!((tally.delivered, tally.failed), (10_000, 0), "{tally:?}");
        assert!(tally.throttled > 0);
        // Paused time: the figure is the controller's own, not this machine's.
        assert!(
            elapsed <= ideal * 1.1,
            "{elapsed:.2} s against {ideal:.2} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_latency_and_a_throttle_everyone_is_delivered() {
        let (tally, elapsed) =
            throttled_fan_out(10_000, 2_000.0, 1_000.0, Duration::from_millis(20)).await;
        eprintln!("{tally:?} in {elapsed:.2} s");
        assert_eq!((tally.delivered, tally.failed), (10_000, 0), "{tally:?}");
        assert!(elapsed <= 4.5 * 1.1, "{elapsed:.2} s");
    }

    #[test]
    fn bounds_follow_the_push_settings() {
        let vars = [
            (env::PUSH_CONCURRENCY, "100"),
            (env::PUSH_MIN_CONCURRENCY, "2"),
            (env::PUSH_INITIAL_CONCURRENCY, "10"),
            (env::PUSH_MAX_RATE, "500"),
        ];
        let c = Config::from_lookup(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.to_string())
        })
        .expect("valid");
        let b = bounds(&c.push);
        assert_eq!(
            (b.min_concurrency, b.initial_concurrency, b.max_concurrency),
            (2, 10, 100)
        );
        assert_eq!(b.max_rate, Some(500.0));
    }
}
