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
    // The frame's size as the batch's JSON holds it: escaped.
    let frame_bytes = frame.as_ref().map_or(0, |f| {
        serde_json::to_string(f).map_or(f.len() * 2, |json| json.len())
    });
    let room = BATCH_BODY_BYTES.saturating_sub(frame_bytes);
    Ok(chunks(recipients, per_batch, room)
        .into_iter()
        .map(|recipients| PushBatch {
            event_id: message.event_id.to_string(),
            entity_id: entity_id.to_string(),
            frame: frame.clone(),
            position: position.clone(),
            recipients,
        })
        .collect())
}

/// The most a batch's JSON may hold, so that a batch always fits one SQS message (256 KB
/// for years, 1 MiB today) with room to spare: a frame travelling inline (up to 128 KB when
/// streams are off) leaves fewer connections in its batches.
const BATCH_BODY_BYTES: usize = 200 * 1024;
/// What one recipient adds to a batch besides its id: quotes, brackets, commas, the expiry.
const RECIPIENT_OVERHEAD_BYTES: usize = 24;

/// The recipients cut into chunks of at most `per_batch`, each within `room` bytes.
fn chunks(
    recipients: Vec<Recipient>,
    per_batch: usize,
    room: usize,
) -> Vec<Vec<(String, Option<i64>)>> {
    let mut chunks: Vec<Vec<(String, Option<i64>)>> = Vec::new();
    let mut bytes = 0;
    for Recipient {
        connection_id,
        token_expires_at,
    } in recipients
    {
        let size = connection_id.len() + RECIPIENT_OVERHEAD_BYTES;
        let fits = chunks
            .last()
            .is_some_and(|last| last.len() < per_batch.max(1) && bytes + size <= room);
        if !fits {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(last) = chunks.last_mut() {
            last.push((connection_id, token_expires_at));
        }
    }
    chunks
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

    #[test]
    fn a_large_inline_frame_leaves_fewer_connections_per_batch() {
        let text = format!("{{\"m\":\"{}\"}}", "x".repeat(120 * 1024));
        let message = Recorded {
            event_id: "e",
            frame: text.as_bytes(),
            position: None,
        };
        let planned = batches("a", &message, recipients(5_000), 5_000).expect("batches");
        assert!(
            planned.len() > 1,
            "120 KB of frame and 5,000 ids do not fit one batch"
        );
        for batch in &planned {
            let body = serde_json::to_string(batch).expect("JSON");
            assert!(
                body.len() <= BATCH_BODY_BYTES + 1_024,
                "{} bytes",
                body.len()
            );
        }
        let total: usize = planned.iter().map(|b| b.recipients.len()).sum();
        assert_eq!(total, 5_000);
    }
}
