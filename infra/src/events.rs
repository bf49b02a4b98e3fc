//! EventBridge -> SQS -> the event consumer, one pipeline per `detail-type`.
//!
//! Why a queue between the rule and the function (the quick start invoked the function
//! directly): a batch of events per invocation, partial batch failures so only the events that
//! failed come back, and a dead-letter queue for events that keep failing (invalid details, a
//! frame over the 128 KB limit), which [`crate::alarms`] watches. Takes the queues from
//! [`crate::queues`] and the consumer from [`crate::functions`].
//!
//! Each rule's target has a retry policy and the pipeline's dead-letter queue, as the quick
//! start's targets had: an event EventBridge cannot put on the queue (a deleted or misconfigured
//! queue policy, throttling beyond the retry window) is kept, not dropped.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use serde_json::json;
use wspush_contract::event_queue;

use crate::aws::cloudwatch::event_rule::{self, EventRuleArgs};
use crate::aws::cloudwatch::event_target::{self, EventTargetArgs};
use crate::aws::lambda::event_source_mapping::{self, EventSourceMappingArgs};
use crate::aws::sqs::queue_policy::{self, QueuePolicyArgs};
use crate::aws::types::cloudwatch::{EventTargetDeadLetterConfig, EventTargetRetryPolicy};
use crate::functions::Function;
use crate::policy::{self, Statement};
use crate::queues::{BATCH_SIZE, EventQueue, EventQueues};

// EventBridge's limits: 60 s to 24 h of event age, 0 to 185 retries; checked at compile time.
const _: () = assert!(
    event_queue::TARGET_MAX_EVENT_AGE_SECS >= 60
        && event_queue::TARGET_MAX_EVENT_AGE_SECS <= 86_400
);
const _: () = assert!(event_queue::TARGET_MAX_RETRY_ATTEMPTS <= 185);

/// How long EventBridge keeps retrying a delivery to the queue.
pub const TARGET_MAX_EVENT_AGE_SECONDS: i32 = event_queue::TARGET_MAX_EVENT_AGE_SECS as i32;
/// How often EventBridge retries a delivery to the queue.
pub const TARGET_MAX_RETRY_ATTEMPTS: i32 = event_queue::TARGET_MAX_RETRY_ATTEMPTS as i32;

/// Rules, targets, queue policies and event source mappings of every pipeline.
pub fn connect(ctx: &Context, queues: &EventQueues, consumer: &Function) {
    for queue in &queues.0 {
        connect_pipeline(ctx, queue, consumer);
    }
}

fn connect_pipeline(ctx: &Context, queue: &EventQueue, consumer: &Function) {
    let part = queue.part;
    let rule = event_rule::create(
        ctx,
        &format!("{part}-rule"),
        EventRuleArgs::builder()
            .description(format!("wspush: \"{}\" events to SQS", queue.detail_type))
            .event_pattern(json!({"detail-type": [queue.detail_type]}).to_string())
            .build_struct(),
    );
    // The queue and its dead-letter queue accept messages from this rule only; the target waits
    // for both policies (through the data), so the first events are not refused by SQS.
    let queue_policy = allow_rule_to_send(
        ctx,
        &format!("{part}-queue-policy"),
        &queue.arn,
        &queue.url,
        &rule.arn,
    );
    let dlq_policy = allow_rule_to_send(
        ctx,
        &format!("{part}-dlq-policy"),
        &queue.dlq_arn,
        &queue.dlq_url,
        &rule.arn,
    );
    let target_arn =
        pulumi_combine!(queue.arn.clone(), queue_policy, dlq_policy.clone()).map(|(arn, _, _)| arn);
    let dead_letter_arn = pulumi_combine!(queue.dlq_arn.clone(), dlq_policy).map(|(arn, _)| arn);
    event_target::create(
        ctx,
        &format!("{part}-target"),
        EventTargetArgs::builder()
            .rule(rule.name)
            .arn(target_arn)
            .retry_policy(
                EventTargetRetryPolicy::builder()
                    .maximum_event_age_in_seconds(TARGET_MAX_EVENT_AGE_SECONDS)
                    .maximum_retry_attempts(TARGET_MAX_RETRY_ATTEMPTS)
                    .build_struct(),
            )
            .dead_letter_config(dead_letter_arn.map(|arn| {
                EventTargetDeadLetterConfig::builder()
                    .arn(arn)
                    .build_struct()
            }))
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

/// A queue policy letting EventBridge send to `queue_arn` for `rule_arn` only; returns its id.
fn allow_rule_to_send(
    ctx: &Context,
    name: &str,
    queue_arn: &Output<String>,
    queue_url: &Output<String>,
    rule_arn: &Output<String>,
) -> Output<String> {
    let document =
        pulumi_combine!(queue_arn.clone(), rule_arn.clone()).map(|(queue_arn, rule_arn)| {
            policy::service_resource_policy(
                "events.amazonaws.com",
                &[Statement::allow(&["sqs:SendMessage"], vec![queue_arn])
                    .with_condition(json!({"ArnEquals": {"aws:SourceArn": rule_arn}}))],
            )
        });
    queue_policy::create(
        ctx,
        name,
        QueuePolicyArgs::builder()
            .queue_url(queue_url.clone())
            .policy(document)
            .build_struct(),
    )
    .id
}
