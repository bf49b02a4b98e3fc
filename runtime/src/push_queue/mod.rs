//! The push queue seam: how the events function hands a large audience to the pushers.
//!
//! Why a queue: one invocation pushes from one process, with one execution environment's
//! sockets and CPU, for at most its timeout. An entity with a million subscribers needs the
//! account's whole `@connections` rate for minutes, which only many invocations reach. So
//! above `PUSH_PLAN_THRESHOLD` recipients the events function *plans*: it cuts the recipients
//! into [`PushBatch`]es, which this seam enqueues, and the pushers (the same binary, serving
//! `push-batch` events) each push one batch, in parallel (`fanout::pushers`).
//!
//! A batch carries what its pusher needs and nothing it must look up per connection: the
//! connection ids with their token expiry (as the index gave them), and the message, inline
//! when it is small, else its stream position, which the pusher reads from history once.
//!
//! [`SqsPushQueue`] is the one implementation: SQS `SendMessageBatch` as signed HTTP requests.

mod sqs;

pub use sqs::SqsPushQueue;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One push-queue message: one message for up to `PUSH_BATCH_CONNECTIONS` connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatch {
    /// The EventBridge event the message came from, for the logs.
    pub event_id: String,
    /// The entity whose subscribers these are.
    pub entity_id: String,
    /// The frame each connection receives, position included, when it travels inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// Where the pusher reads the frame otherwise: the message's place in the entity's stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<BatchPosition>,
    /// The connections, each with its token's expiry when known: `[id, exp | null]`.
    pub recipients: Vec<(String, Option<i64>)>,
}

/// A message's place in its entity's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPosition {
    pub stream_id: String,
    pub serial: u64,
}

/// Why push batches were not all enqueued. Some may have been: the event is received again
/// and planned again, and a connection may then be pushed the message twice, which its
/// serial lets the client drop.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushQueueError {
    /// The queue refused a batch for what it is; sending it again cannot help.
    #[error("the push queue refused a push batch ({code}): {message}")]
    Refused { code: String, message: String },
    /// The queue could not be reached or kept failing.
    #[error("push batches could not be sent to {queue_url}: {message}")]
    NotSent { queue_url: String, message: String },
    /// A batch does not serialize within SQS's limits.
    #[error("a push batch is {bytes} bytes, over SQS's {limit}; lower PUSH_BATCH_CONNECTIONS")]
    TooLarge { bytes: usize, limit: usize },
}

/// Enqueues push batches for the pushers.
#[async_trait]
pub trait PushQueue: Send + Sync {
    /// Enqueues every batch, or says why not all of them were.
    async fn send(&self, batches: &[PushBatch]) -> Result<(), PushQueueError>;
}
