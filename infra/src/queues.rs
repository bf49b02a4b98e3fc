//! The queues: per EventBridge detail type, a queue the event consumer reads and a
//! dead-letter queue; and the push queue, on which the event consumer hands an event with a
//! large audience to the pushers in push batches, with its own dead-letter queue.
//!
//! Declared before the functions, so the roles can name the queues; the rules, targets and
//! event source mappings that join them to EventBridge and to the functions follow in
//! [`crate::events`] and [`crate::pushers`]. Every setting comes from
//! [`wspush_contract::event_queue`] and [`wspush_contract::push_queue`], which the local
//! gateway reads too, so the local queues behave as the deployed ones.
//!
//! One dead-letter queue per pipeline serves every failure path: events the consumer failed
//! [`MAX_RECEIVE_COUNT`] times (SQS redrive), events the consumer refused for what they are,
//! which it sends there itself on their first receive with the reason as message attributes
//! (`DEAD_LETTER_QUEUES`), and events EventBridge could not deliver to the queue within its
//! retry policy (the target's dead-letter queue). All keep the event JSON as the message body,
//! so one redrive and one alarm cover them all. The push queue's dead-letter queue takes push
//! batches the pushers failed [`PUSH_MAX_RECEIVE_COUNT`] times or refused for what they are.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use serde_json::json;
use wspush_contract::{detail_types, event_queue, push_queue};

use crate::aws::sqs::queue::{self, QueueArgs};
use crate::out;

// The AWS schema takes these as 32-bit integers; checked when the crate compiles.
const _: () = assert!(event_queue::VISIBILITY_TIMEOUT_SECS <= i32::MAX as u64);
const _: () = assert!(event_queue::DLQ_RETENTION_SECS <= i32::MAX as u64);
const _: () = assert!(event_queue::MAX_RECEIVE_COUNT <= i32::MAX as u32);
const _: () = assert!(event_queue::BATCH_SIZE <= i32::MAX as u32);
const _: () = assert!(push_queue::VISIBILITY_TIMEOUT_SECS <= i32::MAX as u64);
const _: () = assert!(push_queue::MAX_RECEIVE_COUNT <= i32::MAX as u32);

/// Receives before a message moves to the dead-letter queue (AWS advises at least 5 for a
/// Lambda event source, so throttled receives do not dead-letter early).
pub const MAX_RECEIVE_COUNT: i32 = event_queue::MAX_RECEIVE_COUNT as i32;
/// At least six times the event consumer's timeout (AWS's advice for Lambda event sources).
pub const VISIBILITY_TIMEOUT_SECONDS: i32 = event_queue::VISIBILITY_TIMEOUT_SECS as i32;
/// How long dead letters are kept for inspection and redrive.
pub const DLQ_RETENTION_SECONDS: i32 = event_queue::DLQ_RETENTION_SECS as i32;
/// Messages per invocation of the consumer.
pub const BATCH_SIZE: i32 = event_queue::BATCH_SIZE as i32;
/// Receives of a push batch before it moves to the push queue's dead-letter queue.
pub const PUSH_MAX_RECEIVE_COUNT: i32 = push_queue::MAX_RECEIVE_COUNT as i32;
/// Six times the pushers' timeout.
pub const PUSH_VISIBILITY_TIMEOUT_SECONDS: i32 = push_queue::VISIBILITY_TIMEOUT_SECS as i32;

/// A queue and the dead-letter queue SQS moves its messages to.
pub struct QueuePair {
    pub arn: Output<String>,
    pub url: Output<String>,
    pub dlq_arn: Output<String>,
    pub dlq_url: Output<String>,
    pub dlq_name: Output<String>,
}

impl QueuePair {
    /// The queue's ARN to its dead-letter queue's URL, as the JSON object a function reads
    /// from `DEAD_LETTER_QUEUES`.
    pub fn dead_letter_route(&self) -> Output<String> {
        pulumi_combine!(self.arn.clone(), self.dlq_url.clone())
            .map(|(arn, url)| dead_letter_routes(vec![arn], vec![url]))
    }
}

/// Every queue of the stack.
pub struct Queues {
    pub events: EventQueues,
    /// The push queue (`push_queue::NAME`) and its dead-letter queue.
    pub push: QueuePair,
}

/// A dead-letter queue, and what a message in it is.
pub struct DeadLetterQueue<'a> {
    /// Logical name prefix (`entity-updated`, `push`).
    pub part: &'static str,
    /// What its messages are, for people (`"Entity Updated" events`).
    pub holds: String,
    pub name: &'a Output<String>,
}

impl Queues {
    /// Every dead-letter queue: the event pipelines' and the push queue's.
    pub fn dead_letter_queues(&self) -> Vec<DeadLetterQueue<'_>> {
        let pipelines = self.events.0.iter().map(|queue| DeadLetterQueue {
            part: queue.part,
            holds: format!("\"{}\" events", queue.detail_type),
            name: &queue.dlq_name,
        });
        let push = DeadLetterQueue {
            part: push_queue::NAME,
            holds: "push batches (their connections missed an event)".to_string(),
            name: &self.push.dlq_name,
        };
        pipelines.chain([push]).collect()
    }
}

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
pub struct EventQueues(pub Vec<EventQueue>);

impl EventQueues {
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
        pulumi_combine!(arns, urls).map(|(arns, urls)| dead_letter_routes(arns, urls))
    }
}

/// `{"<queue arn>": "<its dead-letter queue's url>", ...}`.
fn dead_letter_routes(arns: Vec<String>, urls: Vec<String>) -> String {
    let routes: serde_json::Map<String, serde_json::Value> = arns
        .into_iter()
        .zip(urls)
        .map(|(arn, url)| (arn, serde_json::Value::String(url)))
        .collect();
    serde_json::Value::Object(routes).to_string()
}

/// The logical name prefix of a detail type's pipeline.
pub fn part_of(detail_type: &str) -> &'static str {
    if detail_type == detail_types::ENTITY_UPDATED {
        "entity-updated"
    } else {
        "user-push"
    }
}

/// A queue and its dead-letter queue per detail type, and the push queue with its own.
pub fn declare(ctx: &Context) -> Queues {
    let events = detail_types::ALL
        .into_iter()
        .map(|detail_type| declare_pipeline_queues(ctx, detail_type))
        .collect();
    let push = declare_pair(
        ctx,
        push_queue::NAME,
        PUSH_VISIBILITY_TIMEOUT_SECONDS,
        PUSH_MAX_RECEIVE_COUNT,
    );
    Queues {
        events: EventQueues(events),
        push,
    }
}

fn declare_pipeline_queues(ctx: &Context, detail_type: &'static str) -> EventQueue {
    let part = part_of(detail_type);
    let QueuePair {
        arn,
        url,
        dlq_arn,
        dlq_url,
        dlq_name,
    } = declare_pair(ctx, part, VISIBILITY_TIMEOUT_SECONDS, MAX_RECEIVE_COUNT);
    EventQueue {
        detail_type,
        part,
        arn,
        url,
        dlq_arn,
        dlq_url,
        dlq_name,
    }
}

/// `{part}-queue`, redriving to `{part}-dlq` after `max_receive_count` receives; both
/// encrypted at rest with SQS-managed keys.
fn declare_pair(
    ctx: &Context,
    part: &str,
    visibility_timeout_seconds: i32,
    max_receive_count: i32,
) -> QueuePair {
    let dlq = queue::create(
        ctx,
        &format!("{part}-dlq"),
        QueueArgs::builder()
            .message_retention_seconds(DLQ_RETENTION_SECONDS)
            .sqs_managed_sse_enabled(true)
            .build_struct(),
    );
    let redrive_policy = dlq.arn.map(move |arn| {
        json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count}).to_string()
    });
    let main = queue::create(
        ctx,
        &format!("{part}-queue"),
        QueueArgs::builder()
            .visibility_timeout_seconds(visibility_timeout_seconds)
            .redrive_policy(redrive_policy)
            .sqs_managed_sse_enabled(true)
            .build_struct(),
    );
    QueuePair {
        arn: main.arn,
        url: main.url,
        dlq_arn: dlq.arn,
        dlq_url: dlq.url,
        dlq_name: dlq.name,
    }
}
