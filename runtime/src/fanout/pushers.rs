//! A pusher's work: one push batch, its message pushed to every connection it lists.
//!
//! The pushers are the same binary serving `push-batch` events from the push queue. Each
//! invocation paces itself at its share of the account's rate (`PUSH_MAX_RATE`, set from
//! `PushRateLimit` with the mapping's maximum concurrency, so all pushers together stay within
//! it) and slows down on the same 429s every pusher meets. A batch whose pushes did not all
//! get through is reported failed and received again: its connections that were reached are
//! pushed the message again, which the serial lets the client drop.

use aws_lambda_events::sqs::SqsMessage;

use super::adaptive::AdaptiveLimit;
use super::{push_to, undelivered, Tally};
use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::frames::with_position;
use crate::push_queue::PushBatch;
use crate::store::{Recipient, Stream};

/// Pushes one push-queue record's batch under the invocation's shared `limit`.
pub async fn push_record(
    deps: &Deps,
    limit: &AdaptiveLimit,
    record: &SqsMessage,
) -> Result<Tally, HandlerError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| HandlerError::InvalidEvent("SQS record has no body".into()))?;
    let batch: PushBatch = serde_json::from_str(body)
        .map_err(|e| HandlerError::InvalidEvent(format!("not a push batch: {e}")))?;
    let frame = frame_of(deps, &batch).await?;
    let pusher = deps.pusher()?;
    let recipients = batch
        .recipients
        .into_iter()
        .map(|(connection_id, token_expires_at)| Recipient {
            connection_id,
            token_expires_at,
        })
        .collect();
    let tally = push_to(deps, pusher, &deps.push, limit, recipients, &frame).await;
    tracing::info!(
        event_id = %batch.event_id,
        entity_id = %batch.entity_id,
        recipients = tally.recipients,
        delivered = tally.delivered,
        gone = tally.gone,
        failed = tally.failed,
        expired = tally.expired,
        throttled = tally.throttled,
        "push batch complete"
    );
    undelivered(tally)
}

/// The batch's frame: inline, or read from its entity's stream and given its position.
async fn frame_of(deps: &Deps, batch: &PushBatch) -> Result<Vec<u8>, HandlerError> {
    if let Some(frame) = &batch.frame {
        return Ok(frame.clone().into_bytes());
    }
    let Some(position) = &batch.position else {
        return Err(HandlerError::InvalidEvent(
            "a push batch needs a frame or a stream position".into(),
        ));
    };
    let serial = position.serial;
    let stream = Stream::Entity(&batch.entity_id);
    let found = deps
        .store
        .stream_messages(stream, &position.stream_id, serial..=serial, 1)
        .await?;
    match found.into_iter().find(|m| m.serial == serial) {
        Some(message) if !message.expired(now()) => {
            Ok(with_position(&message.frame, &position.stream_id, serial))
        }
        _ => Err(HandlerError::MessageLeftHistory {
            entity_id: batch.entity_id.clone(),
            stream_id: position.stream_id.clone(),
            serial,
        }),
    }
}
