//! The push seam: send one frame to one connection through the `@connections` API, or close
//! it (a connection whose token has expired).
//!
//! [`Pusher`] reports what happened as a [`PushOutcome`] value rather than an error: a gone
//! connection is an expected event for the fan-out (it cleans up and carries on), and
//! throttling is a reason to retry, not to fail the event.

mod management_api;
mod signed_http;

pub use management_api::ManagementApiPusher;
pub use signed_http::{Endpoint, SignedHttpPusher};

use async_trait::async_trait;

/// The result of one PostToConnection call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The gateway accepted the frame.
    Delivered,
    /// 410: the connection no longer exists.
    Gone,
    /// 429 / LimitExceeded: try again later.
    Throttled(String),
    /// 5xx or a transport failure: try again later.
    Unavailable(String),
    /// Any other refusal (403, 413, 400): retrying will not help.
    Rejected(String),
}

impl PushOutcome {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PushOutcome::Throttled(_) | PushOutcome::Unavailable(_)
        )
    }
}

/// Sends frames to connections, and closes them.
#[async_trait]
pub trait Pusher: Send + Sync {
    async fn post_to_connection(&self, connection_id: &str, data: &[u8]) -> PushOutcome;

    /// `DELETE @connections/{id}`: API Gateway closes the socket and runs `$disconnect`.
    /// `Delivered` when it did, `Gone` when there was no such connection.
    async fn delete_connection(&self, connection_id: &str) -> PushOutcome;
}
