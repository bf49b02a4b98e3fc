//! The queues of the event path: per EventBridge detail type, a queue the event consumer reads
//! and a dead-letter queue.
//!
//! Declared before the functions, so the consumer's role can name the queues; the rules,
//! targets and event source mappings that join them to EventBridge and to the consumer follow
//! in [`crate::events`]. Every setting comes from [`wspush_contract::event_queue`], which the
//! local gateway reads too, so the local queues behave as the deployed ones.
//!
//! One dead-letter queue per pipeline serves every failure path: events the consumer failed
//! [`MAX_RECEIVE_COUNT`] times (SQS redrive), events the consumer refused for what they are,
//! which it sends there itself on their first receive with the reason as message attributes
//! (`DEAD_LETTER_QUEUES`), and events EventBridge could not deliver to the queue within its
//! retry policy (the target's dead-letter queue). All keep the event JSON as the message body,
//! so one redrive and one alarm cover them all.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use serde_json::json;
use wspush_contract::{detail_types, event_queue};

use crate::aws::sqs::queue::{self, QueueArgs};
use crate::out;

// The AWS schema takes these as 32-bit integers; checked when the crate compiles.
const _: () = assert!(event_queue::VISIBILITY_TIMEOUT_SECS <= i32::MAX as u64);
const _: () = assert!(event_queue::DLQ_RETENTION_SECS <= i32::MAX as u64);
const _: () = assert!(event_queue::MAX_RECEIVE_COUNT <= i32::MAX as u32);
const _: () = assert!(event_queue::BATCH_SIZE <= i32::MAX as u32);

/// Receives before a message moves to the dead-letter queue (AWS advises at least 5 for a
/// Lambda event source, so throttled receives do not dead-letter early).
pub const MAX_RECEIVE_COUNT: i32 = event_queue::MAX_RECEIVE_COUNT as i32;
/// At least six times the event consumer's timeout (AWS's advice for Lambda event sources).
pub const VISIBILITY_TIMEOUT_SECONDS: i32 = event_queue::VISIBILITY_TIMEOUT_SECS as i32;
/// How long dead letters are kept for inspection and redrive.
pub const DLQ_RETENTION_SECONDS: i32 = event_queue::DLQ_RETENTION_SECS as i32;
/// Messages per invocation of the consumer.
pub const BATCH_SIZE: i32 = event_queue::BATCH_SIZE as i32;

/// One pipeline's queues.
pub struct EventQueue {
    pub detail_type: &'static str,
    /// Logical name prefix (`entity-updated`, `user-push`).
    pub part: &'static str,
    pub arn: Output<String>,
    pub url: Output<String>,
    pub dlq_arn: Output<String>,
    pub dlq_url: Output<String>,
    pub dlq_name: Output<String>,
}

/// Every pipeline's queues, in the order of [`detail_types::ALL`].
pub struct Queues(pub Vec<EventQueue>);

impl Queues {
    /// The ARNs the consumer reads from.
    pub fn source_arns(&self, ctx: &Context) -> Output<Vec<String>> {
        out::all(ctx, self.0.iter().map(|q| q.arn.clone()).collect())
    }

    /// The dead-letter queues' ARNs: where the consumer may send a record that can never
    /// succeed.
    pub fn dead_letter_arns(&self, ctx: &Context) -> Output<Vec<String>> {
        out::all(ctx, self.0.iter().map(|q| q.dlq_arn.clone()).collect())
    }

    /// Each queue's ARN to the URL of its dead-letter queue, as the JSON object the consumer
    /// reads from `DEAD_LETTER_QUEUES` (a record names its queue by ARN; `SendMessage` names
    /// the dead-letter queue by URL).
    pub fn dead_letter_routes(&self, ctx: &Context) -> Output<String> {
        let arns = self.source_arns(ctx);
        let urls = out::all(ctx, self.0.iter().map(|q| q.dlq_url.clone()).collect());
        pulumi_combine!(arns, urls).map(|(arns, urls)| {
            let routes: serde_json::Map<String, serde_json::Value> = arns
                .into_iter()
                .zip(urls)
                .map(|(arn, url)| (arn, serde_json::Value::String(url)))
                .collect();
            serde_json::Value::Object(routes).to_string()
        })
    }
}

/// The logical name prefix of a detail type's pipeline.
pub fn part_of(detail_type: &str) -> &'static str {
    if detail_type == detail_types::ENTITY_UPDATED {
        "entity-updated"
    } else {
        "user-push"
    }
}

/// A queue and its dead-letter queue per detail type.
pub fn declare(ctx: &Context) -> Queues {
    Queues(
        detail_types::ALL
            .into_iter()
            .map(|detail_type| declare_pipeline_queues(ctx, detail_type))
            .collect(),
    )
}

fn declare_pipeline_queues(ctx: &Context, detail_type: &'static str) -> EventQueue {
    let part = part_of(detail_type);
    let dlq = queue::create(
        ctx,
        &format!("{part}-dlq"),
        QueueArgs::builder()
            .message_retention_seconds(DLQ_RETENTION_SECONDS)
            .sqs_managed_sse_enabled(true)
            .build_struct(),
    );
    let redrive_policy = dlq.arn.map(|arn| {
        json!({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT}).to_string()
    });
    let main = queue::create(
        ctx,
        &format!("{part}-queue"),
        QueueArgs::builder()
            .visibility_timeout_seconds(VISIBILITY_TIMEOUT_SECONDS)
            .redrive_policy(redrive_policy)
            .sqs_managed_sse_enabled(true)
            .build_struct(),
    );
    EventQueue {
        detail_type,
        part,
        arn: main.arn,
        url: main.url,
        dlq_arn: dlq.arn,
        dlq_url: dlq.url,
        dlq_name: dlq.name,
    }
}
