//! Planning a large audience: its recipients cut into push batches for the pushers.
//!
//! The events function reads an entity's subscribers as it always does (every index shard at
//! once). Up to `PUSH_PLAN_THRESHOLD` of them, it pushes the event itself: one invocation
//! reaches them in well under a second and a queue's hop would only add latency. Above it, and
//! when a push queue is configured, it enqueues batches of `PUSH_BATCH_CONNECTIONS`
//! recipients instead, and the pushers push them in parallel at the account's rate.
//!
//! A batch carries the frame itself when it is small ([`push_queue::INLINE_FRAME_BYTES`]) or
//! when streams are off; otherwise the message's stream position, and its pusher reads the
//! frame from history once. The message was written to history before planning
//! (`fanout::record`), so it is there to read.

use wspush_contract::push_queue as contract;

use super::Tally;
use crate::deps::Deps;
use crate::error::HandlerError;
use crate::push_queue::{BatchPosition, PushBatch, PushQueue};
use crate::store::{Appended, Recipient};

/// A message as the planner hands it on: its frame, position included, and its position.
pub struct Recorded<'a> {
    pub event_id: &'a str,
    pub frame: &'a [u8],
    /// `None` when streams are off.
    pub position: Option<&'a Appended>,
}

/// The push queue, when `recipients` recipients are to be planned rather than pushed.
pub fn queue_for(deps: &Deps, recipients: usize) -> Option<&dyn PushQueue> {
    deps.push_queue
        .as_deref()
        .filter(|_| recipients > deps.plan.threshold)
}

/// Enqueues the recipients in push batches; the tally counts them as queued.
pub async fn enqueue(
    deps: &Deps,
    queue: &dyn PushQueue,
    entity_id: &str,
    message: &Recorded<'_>,
    recipients: Vec<Recipient>,
) -> Result<Tally, HandlerError> {
    let batches = batches(entity_id, message, recipients, deps.plan.batch_connections)?;
    queue.send(&batches).await?;
    let queued = batches.iter().map(|b| b.recipients.len()).sum();
    tracing::info!(
        event_id = message.event_id,
        entity_id,
        recipients = queued,
        batches = batches.len(),
        "fan-out planned: push batches enqueued for the pushers"
    );
    Ok(Tally {
        recipients: queued,
        queued,
        batches: batches.len(),
        ..Tally::default()
    })
}

/// The push batches of one message: the recipients `per_batch` at a time.
fn batches(
    entity_id: &str,
    message: &Recorded<'_>,
    recipients: Vec<Recipient>,
    per_batch: usize,
) -> Result<Vec<PushBatch>, HandlerError> {
    let (frame, position) = match message.position {
        Some(appended) if message.frame.len() > contract::INLINE_FRAME_BYTES => (
            None,
            Some(BatchPosition {
                stream_id: appended.stream_id.clone(),
                serial: appended.serial,
            }),
        ),
        _ => (Some(frame_text(message.frame)?), None),
    };
    let entries: Vec<(String, Option<i64>)> = recipients
        .into_iter()
        .map(|r| (r.connection_id, r.token_expires_at))
        .collect();
    Ok(entries
        .chunks(per_batch.max(1))
        .map(|chunk| PushBatch {
            event_id: message.event_id.to_string(),
            entity_id: entity_id.to_string(),
            frame: frame.clone(),
            position: position.clone(),
            recipients: chunk.to_vec(),
        })
        .collect())
}

/// A frame as text: frames are JSON, so UTF-8.
fn frame_text(frame: &[u8]) -> Result<String, HandlerError> {
    String::from_utf8(frame.to_vec())
        .map_err(|_| HandlerError::InvalidEvent("the push frame is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipients(n: usize) -> Vec<Recipient> {
        (0..n)
            .map(|i| Recipient {
                connection_id: format!("c{i}"),
                token_expires_at: (i % 2 == 0).then_some(1_900_000_000),
            })
            .collect()
    }

    #[test]
    fn small_frames_travel_inline_large_ones_by_position() {
        let appended = Appended {
            stream_id: "s".repeat(32),
            serial: 7,
        };
        let small = Recorded {
            event_id: "e",
            frame: b"{\"type\":\"EntityUpdated\"}",
            position: Some(&appended),
        };
        let planned = batches("a", &small, recipients(2_500), 1_000).expect("batches");
        assert_eq!(
            planned
                .iter()
                .map(|b| b.recipients.len())
                .collect::<Vec<_>>(),
            [1_000, 1_000, 500]
        );
        assert!(planned
            .iter()
            .all(|b| b.frame.is_some() && b.position.is_none()));
        assert_eq!(
            planned[0].recipients[0],
            ("c0".to_string(), Some(1_900_000_000))
        );
        assert_eq!(planned[0].recipients[1], ("c1".to_string(), None));

        let text = format!("{{\"m\":\"{}\"}}", "x".repeat(contract::INLINE_FRAME_BYTES));
        let large = Recorded {
            frame: text.as_bytes(),
            ..small
        };
        let planned = batches("a", &large, recipients(10), 1_000).expect("batches");
        assert_eq!(planned[0].frame, None);
        assert_eq!(planned[0].position.as_ref().map(|p| p.serial), Some(7));

        let streams_off = Recorded {
            position: None,
            ..large
        };
        let planned = batches("a", &streams_off, recipients(10), 1_000).expect("batches");
        assert_eq!(planned[0].frame.as_deref(), Some(text.as_str()));
    }
}
