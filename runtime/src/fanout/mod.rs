//! EventBridge events to pushes: "Entity Updated" to every subscriber of an entity,
//! "Send User Push Notification" to every connection of a user.
//!
//! Where the quick start lost messages, this module does not: it reads every page of
//! recipients, pushes with a concurrency that adapts to the latency and the account throttle
//! it meets, retries throttling and 5xx with jittered backoff, treats 410 Gone as "clean up and
//! carry on", and reports per event how many frames were delivered, found gone, or failed, and
//! how many calls were throttled. In SQS batches only the failed records are reported back for
//! retry.
//!
//! An event goes through three steps, one module each:
//! - `audience` reads who receives the event and serializes the frame they receive ([`plan`]);
//! - this module writes the message to its stream's history, which gives it its serial (a
//!   redelivered event keeps the serial it got), before anyone is pushed, so a client that
//!   subscribes meanwhile can replay it ([`crate::streams`]); then it reads the recipients
//!   from the store, for one EventBridge event
//!   ([`handle_event`]) or each record of an SQS batch ([`handle_sqs`]);
//! - `delivery` sends the frame to every recipient ([`fan_out`]), as fast as the [`adaptive`]
//!   limit allows; [`expiry`] closes the recipients whose token has expired instead.

pub mod adaptive;
mod audience;
mod delivery;
pub mod expiry;

pub use audience::{plan, read_event, Audience, RawDetailEvent};
pub use delivery::{fan_out, InOrder, Tally};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use lambda_runtime::Diagnostic;

use crate::config::PushSettings;
use crate::dead_letters::{DeadLetter, DeadLetterError, Reason};
use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::frames::with_position;
use crate::store::{NewMessage, Stream};

/// Handles one EventBridge event; an error when some connections could not be reached so
/// that the event is retried (clients drop the duplicates by `eventId`).
pub async fn handle_event(deps: &Deps, event: RawDetailEvent) -> Result<Tally, HandlerError> {
    handle_event_within(deps, &deps.push, event).await
}

/// Records of one SQS batch handled at once.
const RECORDS_IN_PARALLEL: usize = 4;

/// [`handle_event`] with the push settings of its share of the invocation.
async fn handle_event_within(
    deps: &Deps,
    settings: &PushSettings,
    event: RawDetailEvent,
) -> Result<Tally, HandlerError> {
    let (audience, frame) = plan(&event)?;
    let pusher = deps.pusher()?;
    let frame = record(deps, &audience, event.id.as_deref(), frame).await?;
    let recipients = match &audience {
        Audience::EntitySubscribers(entity_id) => deps.store.subscribers(entity_id).await?,
        Audience::UserConnections(user_id) => deps.store.user_connections(user_id).await?,
    };
    let (live, expired) = expiry::split_expired(recipients, now(), deps.token_leeway_secs);
    let store = deps.store.as_ref();
    let (mut tally, expired) = futures::join!(
        fan_out(store, pusher, settings, live, &frame),
        expiry::close_expired(store, pusher, expired)
    );
    tally.expired = expired;
    tally.recipients += expired;
    tracing::info!(
        event_id = event.id.as_deref().unwrap_or(""),
        detail_type = %event.detail_type,
        recipients = tally.recipients,
        delivered = tally.delivered,
        gone = tally.gone,
        failed = tally.failed,
        expired = tally.expired,
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

/// Writes the message to its stream's history and returns the frame with the position it was
/// given; the frame unchanged when streams are off.
async fn record(
    deps: &Deps,
    audience: &Audience,
    event_id: Option<&str>,
    frame: Vec<u8>,
) -> Result<Vec<u8>, HandlerError> {
    if deps.history.is_off() {
        return Ok(frame);
    }
    let stream = match audience {
        Audience::EntitySubscribers(entity_id) => Stream::Entity(entity_id),
        Audience::UserConnections(user_id) => Stream::User(user_id),
    };
    // EventBridge gives every event an id; one invoked by hand without one cannot be told
    // from its retries, so it gets an id of its own.
    let generated;
    let event_id = match event_id.filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => {
            generated = random_event_id();
            &generated
        }
    };
    let message = NewMessage {
        event_id,
        frame: &frame,
    };
    let appended = deps
        .store
        .append(stream, &message, &deps.history, now())
        .await?;
    Ok(with_position(&frame, &appended.stream_id, appended.serial))
}

/// A random id for an event that came without one.
fn random_event_id() -> String {
    use rand::Rng;
    format!("local-{:032x}", rand::rng().random::<u128>())
}

/// Handles a batch of SQS records, each an EventBridge event, reporting back only the records
/// to be received again.
///
/// A record fails in one of two ways. A passing fault (the store, a push that could not get
/// through) is reported in `batchItemFailures`: SQS receives it again, up to the queue's
/// `maxReceiveCount`, then moves it to the dead-letter queue. An event the runtime refuses
/// for what it is ([`HandlerError::is_permanent`]) would fail every receive the same way, so
/// it goes to the dead-letter queue at once with its reason ([`crate::dead_letters`]) and is
/// reported done; if that send fails, it is reported failed and received again.
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
        .map(|record| settle_record(deps, share, record))
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

/// Handles one record; its message id when SQS should receive it again.
async fn settle_record(deps: &Deps, settings: &PushSettings, record: SqsMessage) -> Option<String> {
    let id = record.message_id.clone().unwrap_or_default();
    let error = match handle_record(deps, settings, &record).await {
        Ok(_) => return None,
        Err(error) => error,
    };
    if !error.is_permanent() {
        tracing::warn!(message_id = %id, error = %error, "record failed; SQS receives it again");
        return Some(id);
    }
    let reason = reason_of(error);
    match dead_letter(deps, &record, &reason).await {
        Ok(()) => {
            tracing::warn!(message_id = %id, error_code = %reason.code, error = %reason.message, "record can never succeed; moved to the dead-letter queue on its first receive");
            None
        }
        Err(e) => {
            tracing::warn!(message_id = %id, error = %reason.message, dead_letter_error = %e, "record can never succeed but could not be dead-lettered; SQS receives it again");
            Some(id)
        }
    }
}

/// The dead letter's reason: the error type and message the runtime reports to Lambda.
fn reason_of(error: HandlerError) -> Reason {
    let diagnostic = Diagnostic::from(error);
    Reason {
        code: diagnostic.error_type,
        message: diagnostic.error_message,
    }
}

/// Sends `record` unchanged to the dead-letter queue of the queue it came from.
async fn dead_letter(
    deps: &Deps,
    record: &SqsMessage,
    reason: &Reason,
) -> Result<(), DeadLetterError> {
    let dead_letters = deps
        .dead_letters
        .as_deref()
        .ok_or(DeadLetterError::NotConfigured)?;
    let letter = DeadLetter {
        source_queue_arn: record.event_source_arn.as_deref().unwrap_or_default(),
        body: record.body.as_deref().unwrap_or_default(),
        reason,
    };
    dead_letters.dead_letter(&letter).await
}

async fn handle_record(
    deps: &Deps,
    settings: &PushSettings,
    record: &SqsMessage,
) -> Result<Tally, HandlerError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| HandlerError::InvalidEvent("SQS record has no body".into()))?;
    handle_event_within(deps, settings, read_event(body)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::{PushOutcome, Pusher};
    use crate::store::{ConnectionStore, MemoryStore};
    use async_trait::async_trait;
    use std::time::Duration;

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

        async fn delete_connection(&self, _connection_id: &str) -> PushOutcome {
            PushOutcome::Gone
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
            dead_letters: None,
            tokens: None,
            access: std::sync::Arc::new(crate::access::SubscribeAccess::allow_all()),
            token_leeway_secs: 30,
            record_ttl: Duration::from_secs(60),
            push: settings,
            history: crate::config::default_retention(),
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
