//! Alarms on the dead-letter queues (the event pipelines' and the push queue's), sent to one SNS
//! topic (with an optional email subscriber).
//!
//! A message in a dead-letter queue is an event some or all of its clients did not receive;
//! someone should look. The
//! topic ARN is a stack output so other subscribers (chat, paging) can be added outside the stack.

use std::collections::HashMap;

use pulumi_gestalt_rust::{Context, Output};

use crate::aws::cloudwatch::metric_alarm::{self, MetricAlarmArgs};
use crate::aws::sns::topic::{self, TopicArgs};
use crate::aws::sns::topic_subscription::{self, TopicSubscriptionArgs};
use crate::config::StackConfig;
use crate::queues::Queues;

/// Declares the topic, its optional email subscription and one alarm per dead-letter queue;
/// returns the topic ARN.
pub fn declare(ctx: &Context, config: &StackConfig, queues: &Queues) -> Output<String> {
    let topic = topic::create(
        ctx,
        "dead-letter-alarms",
        TopicArgs::builder()
            .display_name("wspush dead letters")
            .build_struct(),
    );
    if let Some(email) = &config.alarm_email {
        topic_subscription::create(
            ctx,
            "dead-letter-alarms-email",
            TopicSubscriptionArgs::builder()
                .topic(topic.arn.clone())
                .protocol("email")
                .endpoint(email.clone())
                .build_struct(),
        );
    }
    for queue in queues.dead_letter_queues() {
        let dimensions = queue
            .name
            .map(|name| HashMap::from([("QueueName".to_string(), name)]));
        metric_alarm::create(
            ctx,
            &format!("{}-dlq-alarm", queue.part),
            MetricAlarmArgs::builder()
                .alarm_description(format!("{} reached the dead-letter queue", queue.holds))
                .namespace("AWS/SQS")
                .metric_name("ApproximateNumberOfMessagesVisible")
                .dimensions(dimensions)
                .statistic("Maximum")
                .period(60)
                .evaluation_periods(1)
                .threshold(0.0)
                .comparison_operator("GreaterThanThreshold")
                .treat_missing_data("notBreaching")
                .alarm_actions(topic.arn.map(|arn| vec![arn]))
                .ok_actions(topic.arn.map(|arn| vec![arn]))
                .build_struct(),
        );
    }
    topic.arn
}
