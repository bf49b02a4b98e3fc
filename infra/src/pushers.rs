//! The push queue -> the pushers: one event source mapping, whose concurrency shares
//! `PushRateLimit` between the pushers.
//!
//! Why a cap on how many run at once: all `@connections` calls of the account share one API
//! Gateway throttle. Each pusher paces itself to `PUSH_MAX_RATE`, its share
//! ([`push_queue::rate_per_pusher`]); the mapping runs at most [`push_queue::pushers`] of them at
//! once (`ScalingConfig.MaximumConcurrency`), so together they stay within the limit. Without
//! the cap Lambda would start pushers as fast as the queue fills, and their 429s would slow
//! every other push of the account. One push batch per invocation
//! ([`push_queue::BATCH_SIZE`]), so a planned event's batches spread over every pusher at once;
//! partial batch responses, so only a batch that failed comes back. Takes the queue from
//! [`crate::queues`] and the pushers from [`crate::functions`].

use pulumi_gestalt_rust::Context;
use wspush_contract::push_queue;

use crate::aws::lambda::event_source_mapping::{self, EventSourceMappingArgs};
use crate::aws::types::lambda::EventSourceMappingScalingConfig;
use crate::config::StackConfig;
use crate::functions::Function;
use crate::queues::QueuePair;

// The AWS schema takes these as 32-bit integers; checked when the crate compiles.
const _: () = assert!(push_queue::BATCH_SIZE <= i32::MAX as u32);
const _: () = assert!(push_queue::MAX_PUSHERS <= i32::MAX as u32);

/// Push batches per invocation of a pusher.
pub const BATCH_SIZE: i32 = push_queue::BATCH_SIZE as i32;

/// The mapping from the push queue to the pushers, at most as many at once as
/// `PushRateLimit` needs.
pub fn connect(ctx: &Context, config: &StackConfig, queue: &QueuePair, pusher: &Function) {
    let pushers = push_queue::pushers(config.push_plan.rate_limit) as i32;
    event_source_mapping::create(
        ctx,
        &format!("{}-event-source", push_queue::NAME),
        EventSourceMappingArgs::builder()
            .function_name(pusher.arn.clone())
            .event_source_arn(queue.arn.clone())
            .batch_size(BATCH_SIZE)
            .function_response_types(vec!["ReportBatchItemFailures".to_string()])
            .scaling_config(
                EventSourceMappingScalingConfig::builder()
                    .maximum_concurrency(pushers)
                    .build_struct(),
            )
            .build_struct(),
    );
}
