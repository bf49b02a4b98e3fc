//! The gateway's settings: the stage, API Gateway's limits, and the names that appear in ARNs
//! and request contexts.
//!
//! Defaults are AWS's documented values (from `wspush_contract::limits`), so a client tested
//! here meets the same limits in the cloud; every limit can be changed for tests.

use std::time::Duration;

use wspush_contract::{defaults, limits};

/// API Gateway's WebSocket limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame a client may send; a larger one closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Largest message (all frames of it) a client may send, or `@connections` may post.
    pub max_message_bytes: usize,
    /// A connection with no frame from its client for this long is closed (1001).
    pub idle_timeout: Duration,
    /// A connection is closed (1001) after this long, however busy.
    pub max_connection: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: limits::MAX_FRAME_BYTES,
            max_message_bytes: limits::MAX_MESSAGE_BYTES,
            idle_timeout: Duration::from_secs(limits::IDLE_TIMEOUT_SECS),
            max_connection: Duration::from_secs(limits::MAX_CONNECTION_SECS),
        }
    }
}

/// Everything the gateway needs besides the store and the JWT secret.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The stage name: `ws://127.0.0.1:PORT/{stage}` and `/{stage}/@connections/{id}`.
    pub stage: String,
    /// Region in ARNs, EventBridge events and the SDK clients' signing.
    pub region: String,
    /// Account id in ARNs and EventBridge events.
    pub account_id: String,
    /// The API id in `methodArn` and `requestContext.apiId`.
    pub api_id: String,
    pub limits: Limits,
    /// How long connection and subscription records live before TTL may remove them.
    pub record_ttl: Duration,
    /// PostToConnection calls in flight per event.
    pub push_concurrency: usize,
    /// Receives of one event before it is dead-lettered (the deployed queue's maxReceiveCount).
    pub max_receive_count: u32,
    /// Wait before an event whose delivery failed is received again (the queue's visibility
    /// timeout, shortened: locally nobody wants to wait minutes).
    pub redelivery_delay: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            stage: defaults::STAGE.to_string(),
            region: "us-east-1".to_string(),
            account_id: "000000000000".to_string(),
            api_id: "local".to_string(),
            limits: Limits::default(),
            record_ttl: Duration::from_secs(defaults::RECORD_TTL_SECONDS),
            push_concurrency: defaults::PUSH_CONCURRENCY,
            max_receive_count: 3,
            redelivery_delay: Duration::from_secs(1),
        }
    }
}

impl GatewayConfig {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{route}`, as API Gateway builds the
    /// authorizer's `methodArn`.
    pub fn method_arn(&self, route_key: &str) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}",
            self.region, self.account_id, self.api_id, self.stage, route_key
        )
    }

    /// The ARN of a Lambda function of this account.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }
}
