//! EventBridge events to pushes: "Entity Updated" to every subscriber of an entity,
//! "Send User Push Notification" to every connection of a user.
//!
//! Where the quick start lost messages, this module does not: it reads every page of
//! recipients, pushes with a concurrency that adapts to the latency and the account throttle
//! it meets ([`crate::push::adaptive`]), retries throttling and 5xx with jittered backoff,
//! treats 410 Gone as "clean up and carry on", and reports per event how many frames were
//! delivered, found gone, or failed, and how many calls were throttled. In SQS batches only the
//! failed records are reported back for retry.

use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use wspush_contract::{detail_types, limits};

use crate::config::PushSettings;
use crate::deps::Deps;
use crate::error::HandlerError;
use crate::frames::{Push, MAX_ENTITY_ID_BYTES};
use crate::push::adaptive::{AdaptiveLimit, Signal};
use crate::push::{PushOutcome, Pusher};
use crate::store::ConnectionStore;

/// What happened to one event's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub recipients: usize,
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
    /// PostToConnection calls answered 429 (each retried).
    pub throttled: usize,
}

/// Who receives an event, and the frame they receive.
#[derive(Debug, PartialEq)]
pub enum Audience {
    EntitySubscribers(String),
    UserConnections(String),
}

/// Turns an EventBridge event into its audience and serialized frame, or says why it is invalid.
pub fn plan(event: &EventBridgeEvent<Value>) -> Result<(Audience, Vec<u8>), HandlerError> {
    let invalid = |reason: String| HandlerError::InvalidEvent(reason);
    let detail = event
        .detail
        .as_object()
        .ok_or_else(|| invalid("detail must be a JSON object".into()))?;
    let text = |key: &str| {
        detail
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    // Optional, as in the quick start, whose publishers may send only the entity id.
    let message = detail.get("message").filter(|m| !m.is_null()).cloned();
    let event_id = event.id.clone().unwrap_or_default();
    let time = event
        .time
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let (audience, push) = match event.detail_type.as_str() {
        detail_types::ENTITY_UPDATED => {
            let entity_id = text("entityId")
                .ok_or_else(|| invalid("detail.entityId must be a non-empty string".into()))?;
            if entity_id.len() > MAX_ENTITY_ID_BYTES {
                return Err(invalid(format!(
                    "detail.entityId is longer than {MAX_ENTITY_ID_BYTES} bytes"
                )));
            }
            let push = Push::EntityUpdated {
                entity_id: entity_id.to_string(),
                message,
                event_id,
                time,
            };
            (Audience::EntitySubscribers(entity_id.to_string()), push)
        }
        detail_types::USER_PUSH => {
            let user_id = text("userId")
                .ok_or_else(|| invalid("detail.userId must be a non-empty string".into()))?;
            let callback = match detail.get("callback") {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) => Some(c.clone()),
                Some(_) => return Err(invalid("detail.callback must be a string".into())),
            };
            let push = Push::UserPushNotification {
                message,
                callback,
                event_id,
                time,
            };
            (Audience::UserConnections(user_id.to_string()), push)
        }
        other => {
            return Err(invalid(format!(
                "detail-type {other:?} is not handled; expected one of {:?}",
                detail_types::ALL
            )))
        }
    };
    let frame =
        serde_json::to_vec(&push).map_err(|e| invalid(format!("frame does not serialize: {e}")))?;
    if frame.len() > limits::MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "frame is {} bytes, over API Gateway's 128 KB ({} bytes) message limit",
            frame.len(),
            limits::MAX_MESSAGE_BYTES
        )));
    }
    Ok((audience, frame))
}

/// Handles one EventBridge event; an error when some connections could not be reached so
/// that the event is retried (clients drop the duplicates by `eventId`).
pub async fn handle_event(
    deps: &Deps,
    event: EventBridgeEvent<Value>,
) -> Result<Tally, HandlerError> {
    handle_event_within(deps, &deps.push, event).await
}

/// Records of one SQS batch handled at once.
const RECORDS_IN_PARALLEL: usize = 4;

/// [`handle_event`] with the push settings of its share of the invocation.
async fn handle_event_within(
    deps: &Deps,
    settings: &PushSettings,
    event: EventBridgeEvent<Value>,
) -> Result<Tally, HandlerError> {
    let (audience, frame) = plan(&event)?;
    let pusher = deps.pusher()?;
    let recipients = match &audience {
        Audience::EntitySubscribers(entity_id) => deps.store.subscribers(entity_id).await?,
        Audience::UserConnections(user_id) => deps.store.user_connections(user_id).await?,
    };
    let tally = fan_out(deps.store.as_ref(), pusher, settings, recipients, &frame).await;
    tracing::info!(
        event_id = event.id.as_deref().unwrap_or(""),
        detail_type = %event.detail_type,
        recipients = tally.recipients,
        delivered = tally.delivered,
        gone = tally.gone,
        failed = tally.failed,
        throttled = tally.throttled,
        "fan-out complete"
    );
    if tally.failed > 0 {
        return Err(HandlerError::Undelivered {
            recipients: tally.recipients,
            delivered: tally.delivered,
            gone: tally.gone,
            failed: tally.failed,
        });
    }
    Ok(tally)
}

/// Handles a batch of SQS records, each an EventBridge event, reporting only the failed ones.
///
/// Up to [`RECORDS_IN_PARALLEL`] records fan out at once, sharing the invocation's
/// `PUSH_CONCURRENCY`: every call in flight holds a socket, and a Lambda execution environment
/// has 1,024 file descriptors in all, so the calls of all records together stay within it.
pub async fn handle_sqs(deps: &Deps, batch: SqsEvent) -> SqsBatchResponse {
    let parallel = batch.records.len().clamp(1, RECORDS_IN_PARALLEL);
    let share = PushSettings {
        concurrency: (deps.push.concurrency / parallel).max(deps.push.min_concurrency.max(1)),
        ..deps.push.clone()
    };
    let share = &share;
    let outcomes = stream::iter(batch.records)
        .map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            match handle_record(deps, share, record).await {
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, permanent = e.is_permanent(), "record failed");
                    Some(id)
                }
            }
        })
        .buffer_unordered(RECORDS_IN_PARALLEL)
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcomes
        .into_iter()
        .flatten()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

async fn handle_record(
    deps: &Deps,
    settings: &PushSettings,
    record: SqsMessage,
) -> Result<Tally, HandlerError> {
    let body = record
        .body
        .ok_or_else(|| HandlerError::InvalidEvent("SQS record has no body".into()))?;
    let event: EventBridgeEvent<Value> = serde_json::from_str(&body).map_err(|e| {
        HandlerError::InvalidEvent(format!("SQS record body is not an EventBridge event: {e}"))
    })?;
    handle_event_within(deps, settings, event).await
}

/// Sends `frame` to every connection in `recipients` (duplicates removed), with at most
/// `settings.concurrency` calls in flight, fewer when latency rises, paced when throttled.
pub async fn fan_out(
    store: &dyn ConnectionStore,
    pusher: &dyn Pusher,
    settings: &PushSettings,
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
    let limit = AdaptiveLimit::new(settings.bounds());
    let limit = &limit;
    // Every recipient may be waiting for a slot; the adaptive limit decides how many run.
    let outcomes = stream::iter(unique)
        .map(|connection_id| async move {
            let outcome = push_with_retries(pusher, limit, settings, &connection_id, frame).await;
            if outcome == PushOutcome::Gone {
                if let Err(e) = store.delete_connection(&connection_id).await {
                    // TTL removes the records later; the push itself is settled.
                    tracing::warn!(%connection_id, error = %e, "could not delete gone connection");
                }
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
    tally.throttled = stats.throttled;
    tracing::info!(
        recipients = tally.recipients,
        throttled = stats.throttled,
        peak_concurrency = stats.peak_concurrency,
        window_cuts = stats.window_cuts,
        rate_cuts = stats.rate_cuts,
        rate = stats.rate,
        "adaptive limit"
    );
    tally
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
    use crate::store::MemoryStore;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use tokio::time::Instant;

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

    /// `@connections` that answers after 20 ms and records the most calls in flight at once.
    #[derive(Default)]
    struct InFlight {
        now: std::sync::atomic::AtomicUsize,
        peak: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl Pusher for InFlight {
        async fn post_to_connection(&self, _connection_id: &str, _data: &[u8]) -> PushOutcome {
            use std::sync::atomic::Ordering;
            let now = self.now.fetch_add(1, Ordering::AcqRel) + 1;
            self.peak.fetch_max(now, Ordering::AcqRel);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::AcqRel);
            PushOutcome::Delivered
        }
    }

    /// The records of one batch share the invocation's concurrency: a Lambda execution
    /// environment has 1,024 descriptors, and every call in flight holds one.
    #[tokio::test(start_paused = true)]
    async fn a_batch_stays_within_one_invocations_concurrency() {
        use aws_lambda_events::sqs::SqsMessage;
        let store = MemoryStore::new();
        for entity in 0..4 {
            for c in 0..2_000 {
                store
                    .put_subscription(&format!("c{entity}-{c}"), &format!("e{entity}"), i64::MAX)
                    .await
                    .expect("subscribe");
            }
        }
        let pusher = std::sync::Arc::new(InFlight::default());
        let settings = PushSettings {
            concurrency: 64,
            initial_concurrency: 64,
            ..PushSettings::default()
        };
        let deps = Deps {
            store: std::sync::Arc::new(store),
            pusher: Some(pusher.clone()),
            tokens: None,
            record_ttl: Duration::from_secs(60),
            push: settings,
            test_tokens_enabled: false,
        };
        let mut batch = SqsEvent::default();
        batch.records = (0..4)
            .map(|entity| {
                let mut record = SqsMessage::default();
                record.message_id = Some(format!("m{entity}"));
                record.body = Some(
                    serde_json::json!({
                        "version": "0", "id": format!("ev{entity}"), "detail-type": "Entity Updated",
                        "source": "test", "account": "0", "time": "2026-11-25T00:00:00Z",
                        "region": "us-east-1", "resources": [],
                        "detail": {"entityId": format!("e{entity}")}
                    })
                    .to_string(),
                );
                record
            })
            .collect();
        let response = handle_sqs(&deps, batch).await;
        assert!(response.batch_item_failures.is_empty());
        let peak = pusher.peak.load(std::sync::atomic::Ordering::Acquire);
        assert!(
            peak <= 64,
            "{peak} calls in flight; the invocation allows 64"
        );
        assert!(peak >= 32, "the records did run side by side: {peak}");
    }
}
