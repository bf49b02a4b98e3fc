//! The dead-letter seam: a record that can never succeed goes to its queue's dead-letter queue
//! at once, with the reason it failed.
//!
//! Why: SQS moves a record to the dead-letter queue only after its fifth failed receive, and
//! moves it as it is, without a word on why. For a passing fault (a store timeout, a throttled
//! push) those receives are what saves the event; for an event the runtime refuses for what it
//! is (a detail without a usable `entityId`, a frame over 128 KB, JSON that does not parse)
//! they are four invocations wasted and a dead letter that says nothing. The fan-out
//! (`fanout::handle_sqs`) hands such a record here on its first receive and reports it done;
//! if this fails, the record is reported failed instead and SQS receives it again, so nothing
//! is lost either way.
//!
//! The reason travels as two message attributes named as EventBridge names those it attaches
//! to its own dead letters ([`wspush_contract::dead_letter_attributes`]): `ERROR_CODE`, the
//! error type the runtime reports to Lambda (`InvalidEvent`), and `ERROR_MESSAGE`, the error in
//! words. The body is the record's, unchanged, so a redrive puts back exactly what came in.
//!
//! [`SqsDeadLetters`] is the one implementation: SQS `SendMessage` as a signed HTTP request, to
//! the dead-letter queue that `DEAD_LETTER_QUEUES` maps the record's source queue to. The local
//! gateway serves the same request for its own dead-letter queues.

mod sqs;

pub use sqs::SqsDeadLetters;

use async_trait::async_trait;

/// Why a record can never succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// The kind of failure (`ERROR_CODE`), e.g. `InvalidEvent`.
    pub code: String,
    /// The failure in words (`ERROR_MESSAGE`).
    pub message: String,
}

/// One record to dead-letter.
#[derive(Clone, Copy, Debug)]
pub struct DeadLetter<'a> {
    /// The queue the record came from: its `eventSourceARN`.
    pub source_queue_arn: &'a str,
    /// The record's body, sent unchanged.
    pub body: &'a str,
    pub reason: &'a Reason,
    /// Whether the record was a push batch: its dead letter keeps the marker
    /// ([`wspush_contract::push_queue::KIND_ATTRIBUTE`]), so a redrive puts back a record the
    /// pushers take.
    pub push_batch: bool,
}

/// Why a record could not be dead-lettered; it is then received again.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeadLetterError {
    /// The function has no dead-letter queues (`DEAD_LETTER_QUEUES` unset).
    #[error("no dead-letter queues are configured (DEAD_LETTER_QUEUES)")]
    NotConfigured,
    /// `DEAD_LETTER_QUEUES` names no dead-letter queue for the record's queue.
    #[error("DEAD_LETTER_QUEUES names no dead-letter queue for source queue {0:?}")]
    NoQueueFor(String),
    /// SQS never accepts an empty message body.
    #[error("the record has no body to dead-letter")]
    EmptyBody,
    /// The dead-letter queue did not take the message.
    #[error("SendMessage to {queue_url} failed: {message}")]
    NotSent { queue_url: String, message: String },
}

/// Moves records to the dead-letter queues of the queues they came from.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), DeadLetterError>;
}
