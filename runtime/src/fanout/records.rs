//! SQS batches, record by record: the event queues' records (each an EventBridge event) and
//! the push queue's (each a push batch), settled the same way.
//!
//! A record fails in one of two ways. A passing fault (the store, a push that could not get
//! through) is reported in `batchItemFailures`: SQS receives it again, up to the queue's
//! `maxReceiveCount`, then moves it to the dead-letter queue. A record the runtime refuses for
//! what it is ([`HandlerError::is_permanent`]) would fail every receive the same way, so it
//! goes to the dead-letter queue at once with its reason ([`crate::dead_letters`]) and is
//! reported done; if that send fails, it is reported failed and received again.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use lambda_runtime::Diagnostic;

use super::adaptive::AdaptiveLimit;
use super::delivery::bounds;
use super::{handle_event_within, pushers, read_event, Tally};
use crate::config::PushSettings;
use crate::dead_letters::{DeadLetter, DeadLetterError, Reason};
use crate::deps::Deps;
use crate::error::HandlerError;

/// Records of one SQS batch handled at once.
const RECORDS_IN_PARALLEL: usize = 4;

/// What a record holds, and what its handling shares with the rest of the batch.
#[derive(Clone, Copy)]
enum Work<'a> {
    /// An EventBridge event, fanned out with the invocation's share of the push settings.
    Event(&'a PushSettings),
    /// A push batch, pushed under the invocation's one adaptive limit.
    PushBatch(&'a AdaptiveLimit),
}

/// Handles a batch of the event queues' records, reporting back only the records to be
/// received again.
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
    settle_all(deps, Work::Event(&share), batch).await
}

/// Handles a batch of push-queue records. Their pushes share one adaptive limit, so the
/// invocation keeps within its window and its rate (`PUSH_MAX_RATE`) whatever the batch size.
pub async fn handle_push_batches(deps: &Deps, batch: SqsEvent) -> SqsBatchResponse {
    let limit = AdaptiveLimit::new(bounds(&deps.push));
    settle_all(deps, Work::PushBatch(&limit), batch).await
}

/// Settles every record; the response names those SQS should receive again.
async fn settle_all(deps: &Deps, work: Work<'_>, batch: SqsEvent) -> SqsBatchResponse {
    let outcomes = stream::iter(batch.records)
        .map(|record| settle_record(deps, work, record))
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
async fn settle_record(deps: &Deps, work: Work<'_>, record: SqsMessage) -> Option<String> {
    let id = record.message_id.clone().unwrap_or_default();
    let error = match handle_record(deps, work, &record).await {
        Ok(_) => return None,
        Err(error) => error,
    };
    if !error.is_permanent() {
        tracing::warn!(message_id = %id, error = %error, "record failed; SQS receives it again");
        return Some(id);
    }
    let reason = reason_of(error);
    let push_batch = matches!(work, Work::PushBatch(_));
    match dead_letter(deps, &record, &reason, push_batch).await {
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

async fn handle_record(
    deps: &Deps,
    work: Work<'_>,
    record: &SqsMessage,
) -> Result<Tally, HandlerError> {
    match work {
        Work::Event(settings) => {
            let body = record
                .body
                .as_deref()
                .ok_or_else(|| HandlerError::InvalidEvent("SQS record has no body".into()))?;
            handle_event_within(deps, settings, read_event(body)?).await
        }
        Work::PushBatch(limit) => pushers::push_record(deps, limit, record).await,
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
    push_batch: bool,
) -> Result<(), DeadLetterError> {
    let dead_letters = deps
        .dead_letters
        .as_deref()
        .ok_or(DeadLetterError::NotConfigured)?;
    let letter = DeadLetter {
        source_queue_arn: record.event_source_arn.as_deref().unwrap_or_default(),
        body: record.body.as_deref().unwrap_or_default(),
        reason,
        push_batch,
    };
    dead_letters.dead_letter(&letter).await
}
