//! What each role may do besides writing its logs and traces: explicit actions on this
//! stack's resources, spelled once in [`actions`] so the tests can compare against them.

use pulumi_gestalt_rust::{Output, pulumi_combine};

use super::Inputs;
use crate::policy::Statement;

/// Actions each role is granted, spelled once so the tests can compare against them.
pub mod actions {
    pub const LOGS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];
    pub const XRAY: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];
    pub const READ_SECRET: [&str; 1] = ["secretsmanager:GetSecretValue"];
    /// Connections and subscriptions (Put, Delete, Query, BatchWrite for `$disconnect`), the
    /// counted cap (UpdateItem on the connection's count, GetItem for a repeated subscribe at
    /// the cap), and history (GetItem of a stream's head, Query of its messages) for `resume`,
    /// `history` and `subscribe` with `since`.
    pub const CONNECTION_TABLE: [&str; 6] = [
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
    ];
    pub const EVENTS_INDEX: [&str; 1] = ["dynamodb:Query"];
    /// Query + BatchWrite for the 410 cleanup; per event, GetItem of the stream's head and of
    /// the event's marker, then one TransactWriteItems that updates the head, puts the marker
    /// and the message and deletes the trimmed message. IAM has no action for the transaction
    /// itself: each of its operations is authorised as the single-item action of its kind, and
    /// no ConditionCheck operation is used, so `dynamodb:ConditionCheckItem` is not granted.
    pub const EVENTS_TABLE: [&str; 6] = [
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];
    /// The pushers: Query + BatchWrite for the 410 cleanup, as the event consumer's, and Query
    /// of a stream's messages for a push batch that carries its frame's stream position
    /// instead of the frame (the message is read by its serial, without the stream's head).
    /// They are handed their connections, so they never read the index.
    pub const PUSHER_TABLE: [&str; 2] = ["dynamodb:Query", "dynamodb:BatchWriteItem"];
    pub const MANAGE_CONNECTIONS: [&str; 1] = ["execute-api:ManageConnections"];
    /// Asking the application's subscribe hook (`SubscribeAuthorizer`).
    pub const INVOKE_SUBSCRIBE_AUTHORIZER: [&str; 1] = ["lambda:InvokeFunction"];
    pub const CONSUME_QUEUE: [&str; 3] = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ];
    /// Moving a record that can never succeed to its dead-letter queue at once.
    pub const SEND_DEAD_LETTER: [&str; 1] = ["sqs:SendMessage"];
    /// Handing push batches to the pushers. The planner sends them with `SendMessageBatch`,
    /// which IAM authorises as `sqs:SendMessage` (SQS has no action of its own for a batch).
    pub const ENQUEUE_PUSH_BATCHES: [&str; 1] = ["sqs:SendMessage"];
}

/// What each role may do besides writing its logs and traces.
impl Inputs<'_> {
    pub(super) fn read_secret(&self) -> Output<Vec<Statement>> {
        self.identity
            .secret_arn
            .clone()
            .map(|arn| vec![Statement::allow(&actions::READ_SECRET, vec![arn])])
    }

    /// Its items of the table and streams' history, POST and DELETE on `@connections` (a frame
    /// from a connection whose token expired is answered and the connection closed), and
    /// invoking the subscribe hook's function (that one only) when there is one.
    pub(super) fn connection_statements(&self) -> Output<Vec<Statement>> {
        let hook = match &self.subscribe_authorizer_arn {
            Some(arn) => arn.map(|arn| vec![arn]),
            None => self.ctx.new_output(&Vec::new()),
        };
        pulumi_combine!(
            self.table.arn.clone(),
            self.api.manage_connections_arns.clone(),
            hook
        )
        .map(|(table, connections, hook)| {
            let mut statements = vec![
                Statement::allow(&actions::CONNECTION_TABLE, vec![table]),
                Statement::allow(&actions::MANAGE_CONNECTIONS, connections),
            ];
            if !hook.is_empty() {
                statements.push(Statement::allow(
                    &actions::INVOKE_SUBSCRIBE_AUTHORIZER,
                    hook,
                ));
            }
            statements
        })
    }

    /// Query the index, Query + BatchWrite the table (410 cleanup) and write each event into
    /// its stream, POST and DELETE on `@connections` (pushes; closing connections whose token
    /// expired), consume its queues, send to their dead-letter queues and push batches to the
    /// push queue (and to no other queue).
    /// The stream grants stay when `HistoryMaxMessages` is 0: Query already reads and
    /// BatchWriteItem already puts and deletes any item of the table, so leaving them out
    /// would narrow nothing.
    pub(super) fn events_statements(&self) -> Output<Vec<Statement>> {
        pulumi_combine!(
            self.table.arn.clone(),
            self.table.index_arn.clone(),
            self.api.manage_connections_arns.clone(),
            self.queues.events.source_arns(self.ctx),
            self.queues.events.dead_letter_arns(self.ctx),
            self.queues.push.arn.clone()
        )
        .map(
            |(table, index, connections, queue_arns, dead_letter_arns, push_queue)| {
                vec![
                    Statement::allow(&actions::EVENTS_INDEX, vec![index]),
                    Statement::allow(&actions::EVENTS_TABLE, vec![table]),
                    Statement::allow(&actions::MANAGE_CONNECTIONS, connections),
                    Statement::allow(&actions::CONSUME_QUEUE, queue_arns),
                    Statement::allow(&actions::SEND_DEAD_LETTER, dead_letter_arns),
                    Statement::allow(&actions::ENQUEUE_PUSH_BATCHES, vec![push_queue]),
                ]
            },
        )
    }

    /// Query + BatchWrite the table (410 cleanup; Query also reads a frame from its stream's
    /// history), POST and DELETE on `@connections`, consume the push queue and send to its
    /// dead-letter queue (and to no other queue).
    pub(super) fn pusher_statements(&self) -> Output<Vec<Statement>> {
        let push = &self.queues.push;
        pulumi_combine!(
            self.table.arn.clone(),
            self.api.manage_connections_arns.clone(),
            push.arn.clone(),
            push.dlq_arn.clone()
        )
        .map(|(table, connections, queue, dead_letter_queue)| {
            vec![
                Statement::allow(&actions::PUSHER_TABLE, vec![table]),
                Statement::allow(&actions::MANAGE_CONNECTIONS, connections),
                Statement::allow(&actions::CONSUME_QUEUE, vec![queue]),
                Statement::allow(&actions::SEND_DEAD_LETTER, vec![dead_letter_queue]),
            ]
        })
    }
}
