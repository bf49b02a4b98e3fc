//! The runtime's error type and how it crosses the Lambda wire.
//!
//! API Gateway turns an authorizer error whose message is exactly `Unauthorized` into HTTP 401;
//! every other variant keeps a message that says what to fix.

use lambda_runtime::Diagnostic;

use crate::auth::{TokenError, Unauthorized};
use crate::event_kind::EventKind;
use crate::push_queue::PushQueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    #[error("this function serves only {serves} events (EVENT_KINDS); a {kind} event is refused")]
    NotServed { kind: EventKind, serves: String },
    #[error("unrecognised event: {0}")]
    UnknownEvent(String),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("this function does not mint test tokens (set TEST_TOKENS_ENABLED=true only on CreateTestJwt)")]
    TestTokensDisabled,
    #[error("{0} is not configured for this function")]
    NotConfigured(&'static str),
    #[error("could not mint token: {0}")]
    Minting(TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    NotQueued(#[from] PushQueueError),
    /// A push batch names a message its stream's history no longer holds: trimmed by
    /// `HISTORY_MAX_MESSAGES` or expired before the pushers reached the batch.
    #[error("message {serial} of stream {stream_id} for entity {entity_id:?} left history before its push batch was read; raise HISTORY_MAX_MESSAGES or HISTORY_RETENTION_SECONDS")]
    MessageLeftHistory {
        entity_id: String,
        stream_id: String,
        serial: u64,
    },
    #[error("{failed} of {recipients} connections could not be reached (delivered {delivered}, gone {gone})")]
    Undelivered {
        recipients: usize,
        delivered: usize,
        gone: usize,
        failed: usize,
    },
}

impl HandlerError {
    /// Whether trying the same event again cannot succeed (bad input, not a passing fault).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            HandlerError::UnknownEvent(_)
                | HandlerError::NotServed { .. }
                | HandlerError::InvalidEvent(_)
                | HandlerError::TestTokensDisabled
                | HandlerError::Unauthorized(_)
                | HandlerError::MessageLeftHistory { .. }
        )
    }

    fn kind(&self) -> &'static str {
        match self {
            HandlerError::Unauthorized(_) => "Unauthorized",
            HandlerError::UnknownEvent(_) => "UnknownEvent",
            HandlerError::NotServed { .. } => "EventNotServed",
            HandlerError::InvalidEvent(_) => "InvalidEvent",
            HandlerError::TestTokensDisabled => "TestTokensDisabled",
            HandlerError::NotConfigured(_) => "NotConfigured",
            HandlerError::Minting(_) => "MintingFailed",
            HandlerError::Store(_) => "StoreError",
            HandlerError::NotQueued(_) => "PushQueueError",
            HandlerError::MessageLeftHistory { .. } => "MessageLeftHistory",
            HandlerError::Undelivered { .. } => "Undelivered",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        Diagnostic {
            error_type: err.kind().to_string(),
            error_message: err.to_string(),
        }
    }
}
