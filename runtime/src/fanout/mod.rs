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
//!
//! An entity with more subscribers than one invocation should push (`PUSH_PLAN_THRESHOLD`) is
//! planned instead: [`planner`] enqueues its recipients in push batches, and the pushers
//! ([`pushers`]), many invocations at once, push them at the account's rate. [`records`]
//! settles SQS batches of either kind, record by record.

pub mod adaptive;
mod audience;
mod delivery;
pub mod expiry;
mod planner;
mod pushers;
mod records;

pub use audience::{plan, read_event, Audience, RawDetailEvent};
pub use delivery::{fan_out, fan_out_within, InOrder, Tally};
pub use records::{handle_push_batches, handle_sqs};

use crate::config::PushSettings;
use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::frames::with_position;
use crate::push::Pusher;
use crate::store::{Appended, NewMessage, Recipient, Stream};
use adaptive::AdaptiveLimit;
use planner::Recorded;

/// Handles one EventBridge event; an error when some connections could not be reached so
/// that the event is retried (clients drop the duplicates by `eventId`).
pub async fn handle_event(deps: &Deps, event: RawDetailEvent) -> Result<Tally, HandlerError> {
    handle_event_within(deps, &deps.push, event).await
}

/// [`handle_event`] with the push settings of its share of the invocation.
async fn handle_event_within(
    deps: &Deps,
    settings: &PushSettings,
    event: RawDetailEvent,
) -> Result<Tally, HandlerError> {
    let (audience, frame) = plan(&event)?;
    let pusher = deps.pusher()?;
    let event_id = event_id_of(event.id.as_deref());
    let position = record(deps, &audience, &event_id, &frame).await?;
    let frame = match &position {
        Some(appended) => with_position(&frame, &appended.stream_id, appended.serial),
        None => frame,
    };
    let recipients = match &audience {
        Audience::EntitySubscribers(entity_id) => deps.store.subscribers(entity_id).await?,
        Audience::UserConnections(user_id) => deps.store.user_connections(user_id).await?,
    };
    if let Audience::EntitySubscribers(entity_id) = &audience {
        if let Some(queue) = planner::queue_for(deps, recipients.len()) {
            let message = Recorded {
                event_id: &event_id,
                frame: &frame,
                position: position.as_ref(),
            };
            return planner::enqueue(deps, queue, entity_id, &message, recipients).await;
        }
    }
    let limit = AdaptiveLimit::new(delivery::bounds(settings));
    let tally = push_to(deps, pusher, settings, &limit, recipients, &frame).await;
    tracing::info!(
        event_id = %event_id,
        detail_type = %event.detail_type,
        recipients = tally.recipients,
        delivered = tally.delivered,
        gone = tally.gone,
        failed = tally.failed,
        expired = tally.expired,
        throttled = tally.throttled,
        "fan-out complete"
    );
    undelivered(tally)
}

/// Pushes `frame` to the live recipients under `limit` and closes those whose token expired:
/// the events function's direct fan-out and a pusher's batch alike.
async fn push_to(
    deps: &Deps,
    pusher: &dyn Pusher,
    settings: &PushSettings,
    limit: &AdaptiveLimit,
    recipients: Vec<Recipient>,
    frame: &[u8],
) -> Tally {
    let (live, expired) = expiry::split_expired(recipients, now(), deps.token_leeway_secs);
    let store = deps.store.as_ref();
    let (mut tally, expired) = futures::join!(
        fan_out_within(store, pusher, settings, limit, live, frame),
        expiry::close_expired(store, pusher, expired)
    );
    tally.expired = expired;
    tally.recipients += expired;
    tally
}

/// The tally, or an error when some connections could not be reached, so that the event or
/// batch is received again.
fn undelivered(tally: Tally) -> Result<Tally, HandlerError> {
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

/// Writes the message to its stream's history; the position it was given, or `None` when
/// streams are off.
async fn record(
    deps: &Deps,
    audience: &Audience,
    event_id: &str,
    frame: &[u8],
) -> Result<Option<Appended>, HandlerError> {
    if deps.history.is_off() {
        return Ok(None);
    }
    let stream = match audience {
        Audience::EntitySubscribers(entity_id) => Stream::Entity(entity_id),
        Audience::UserConnections(user_id) => Stream::User(user_id),
    };
    let message = NewMessage { event_id, frame };
    let appended = deps
        .store
        .append(stream, &message, &deps.history, now())
        .await?;
    Ok(Some(appended))
}

/// The event's id. EventBridge gives every event one; an event invoked by hand without one
/// cannot be told from its retries, so it gets an id of its own.
fn event_id_of(id: Option<&str>) -> String {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => id.to_string(),
        None => random_event_id(),
    }
}

/// A random id for an event that came without one.
fn random_event_id() -> String {
    use rand::Rng;
    format!("local-{:032x}", rand::rng().random::<u128>())
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
        use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
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
            push_queue: None,
            plan: crate::config::PlanSettings::default(),
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
