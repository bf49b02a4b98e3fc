//! EventBridge -> SQS -> the event consumer, one pipeline per `detail-type`.
//!
//! Why a queue between the rule and the function (the quick start invoked the function
//! directly): a batch of events per invocation, partial batch failures so only the events that
//! failed come back, and a dead-letter queue for events that keep failing (invalid details, a
//! frame over the 128 KB limit), which [`crate::alarms`] watches. The queues are declared before
//! the functions so the consumer's role can name them; [`connect`] wires rules and the event
//! source mappings once the consumer exists.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use serde_json::json;
use wspush_contract::detail_types;

use crate::aws::cloudwatch::event_rule::{self, EventRuleArgs};
use crate::aws::cloudwatch::event_target::{self, EventTargetArgs};
use crate::aws::lambda::event_source_mapping::{self, EventSourceMappingArgs};
use crate::aws::sqs::queue::{self, QueueArgs};
use crate::aws::sqs::queue_policy::{self, QueuePolicyArgs};
use crate::functions::{EVENTS_TIMEOUT_SECONDS, Function};
use crate::out;
use crate::policy::{self, Statement};

/// Receives before a message moves to the dead-letter queue. The runtime retries throttled
/// pushes itself, so a message that fails this often is not going to succeed.
pub const MAX_RECEIVE_COUNT: i32 = 3;
/// Messages per invocation.
pub const BATCH_SIZE: i32 = 10;
/// Dead letters are kept the SQS maximum, 14 days, for inspection and redrive.
pub const DLQ_RETENTION_SECONDS: i32 = 14 * 24 * 60 * 60;

/// One pipeline's queues.
pub struct EventQueue {
    pub detail_type: &'static str,
    /// Logical name prefix (`entity-updated`, `user-push`).
    pub part: &'static str,
    pub arn: Output<String>,
    pub url: Output<String>,
    pub dlq_name: Output<String>,
}

pub struct Queues(pub Vec<EventQueue>);

impl Queues {
    /// The ARNs the consumer reads from.
    pub fn source_arns(&self, ctx: &Context) -> Output<Vec<String>> {
        out::all(ctx, self.0.iter().map(|q| q.arn.clone()).collect())
    }
}

fn part_of(detail_type: &str) -> &'static str {
    if detail_type == detail_types::ENTITY_UPDATED {
        "entity-updated"
    } else {
        "user-push"
    }
}

/// A queue and its dead-letter queue per detail type.
pub fn declare_queues(ctx: &Context) -> Queues {
    Queues(
        detail_types::ALL
            .into_iter()
            .map(|detail_type| {
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
                    json!({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
                        .to_string()
                });
                let main = queue::create(
                    ctx,
                    &format!("{part}-queue"),
                    QueueArgs::builder()
                        // AWS advises at least six times the function timeout, so a message is
                        // not handed out again while a throttled invocation still holds it.
                        .visibility_timeout_seconds(6 * EVENTS_TIMEOUT_SECONDS)
                        .redrive_policy(redrive_policy)
                        .sqs_managed_sse_enabled(true)
                        .build_struct(),
                );
                EventQueue {
                    detail_type,
                    part,
                    arn: main.arn,
                    url: main.url,
                    dlq_name: dlq.name,
                }
            })
            .collect(),
    )
}

/// Rules, queue policies and event source mappings.
pub fn connect(ctx: &Context, queues: &Queues, consumer: &Function) {
    for queue in &queues.0 {
        let part = queue.part;
        let rule = event_rule::create(
            ctx,
            &format!("{part}-rule"),
            EventRuleArgs::builder()
                .description(format!("wspush: \"{}\" events to SQS", queue.detail_type))
                .event_pattern(json!({"detail-type": [queue.detail_type]}).to_string())
                .build_struct(),
        );
        let send_policy =
            pulumi_combine!(queue.arn.clone(), rule.arn.clone()).map(|(queue_arn, rule_arn)| {
                policy::service_resource_policy(
                    "events.amazonaws.com",
                    &[Statement::allow(&["sqs:SendMessage"], vec![queue_arn])
                        .with_condition(json!({"ArnEquals": {"aws:SourceArn": rule_arn}}))],
                )
            });
        let queue_policy = queue_policy::create(
            ctx,
            &format!("{part}-queue-policy"),
            QueuePolicyArgs::builder()
                .queue_url(queue.url.clone())
                .policy(send_policy)
                .build_struct(),
        );
        // The target waits for the queue policy (through the data) so the first events are not
        // refused by SQS.
        let target_arn = pulumi_combine!(queue.arn.clone(), queue_policy.id).map(|(arn, _)| arn);
        event_target::create(
            ctx,
            &format!("{part}-target"),
            EventTargetArgs::builder()
                .rule(rule.name)
                .arn(target_arn)
                .build_struct(),
        );
        event_source_mapping::create(
            ctx,
            &format!("{part}-event-source"),
            EventSourceMappingArgs::builder()
                .function_name(consumer.arn.clone())
                .event_source_arn(queue.arn.clone())
                .batch_size(BATCH_SIZE)
                .function_response_types(vec!["ReportBatchItemFailures".to_string()])
                .build_struct(),
        );
    }
}
