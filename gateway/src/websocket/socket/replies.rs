//! The answers to a client's own frames: route responses, and API Gateway's error frames
//! (`{"message": …, "connectionId": …, "requestId": …}`) when a route fails or is throttled.
//!
//! They go through the connection's mailbox and count against the same client buffer as
//! `@connections` posts. One that does not fit is dropped: it is counted (`repliesDropped` in
//! `/_gateway/connections`) and logged, so a client that sends without reading cannot grow the
//! gateway's memory, and nothing it loses goes unrecorded.

use std::sync::Arc;

use serde_json::json;

use crate::client::Body;
use crate::ids;
use crate::registry::{ConnectionInfo, Mailbox};

/// Where one connection's answers go. Cheap to clone: each route invocation holds one.
#[derive(Clone)]
pub struct Replies {
    mailbox: Mailbox,
    info: Arc<ConnectionInfo>,
    /// The client buffer's limit in bytes (`--max-client-buffer-bytes`).
    limit: usize,
}

impl Replies {
    pub fn new(mailbox: Mailbox, info: Arc<ConnectionInfo>, limit: usize) -> Self {
        Self {
            mailbox,
            info,
            limit,
        }
    }

    /// Queues one answer, or drops and counts it when the client's buffer is full. The log
    /// says so at the first drop and at every power of two after, so a client that never
    /// reads is visible without a line per frame.
    pub fn send(&self, body: Body) {
        if let Err(dropped) = self.mailbox.reply(body, self.limit) {
            if dropped.total.is_power_of_two() {
                tracing::warn!(
                    connection_id = %self.info.connection_id,
                    replies_dropped = dropped.total,
                    "the client's buffer is full: the answer to its frame was dropped"
                );
            }
        }
    }

    /// Queues API Gateway's error frame saying `message`.
    pub fn error(&self, message: &str) {
        self.send(error_frame(message, &self.info.connection_id));
    }
}

/// API Gateway's error frame on a WebSocket, with a new request id.
fn error_frame(message: &str, connection_id: &str) -> Body {
    Body::Text(
        json!({
            "message": message,
            "connectionId": connection_id,
            "requestId": ids::request_id(),
        })
        .to_string(),
    )
}
