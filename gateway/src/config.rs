//! The gateway's settings: the stage, API Gateway's limits, and the names that appear in ARNs
//! and request contexts.
//!
//! Defaults are AWS's documented values (from `wspush_contract::limits`), so a client tested
//! here meets the same limits in the cloud; every limit can be changed for tests.

use std::time::Duration;

use wspush_contract::{authorizer, defaults, event_queue, limits, push_queue};

use std::sync::Arc;

use wspush_runtime::auth::ProviderKeys;

use crate::authorization::AuthorizationSettings;
use crate::functions::{Concurrency, Pushers};
use crate::identity::{self, IdentitySource};
use wspush_runtime::config::{PlanSettings, PushClient};
use wspush_runtime::store::Retention;

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
    /// Bytes waiting to be written to one client before `@connections` answers 429
    /// `LimitExceededException` (API Gateway's "client side buffer is full"; AWS publishes no
    /// figure).
    pub max_client_buffer_bytes: usize,
    /// How long a client may take to send its handshake request's headers.
    pub handshake_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in; then the
    /// request is answered 408 and its connection closed ([`crate::body_deadline`]).
    pub body_timeout: Duration,
    /// TCP connections that have not (yet) become WebSockets, at most; more are closed at once,
    /// so silent or slow sockets cannot take every descriptor.
    pub max_pending_connections: usize,
    /// Route invocations one connection may have running at once; its further frames wait
    /// unread (see [`MAX_INVOCATIONS_PER_CONNECTION`]).
    pub max_invocations_per_connection: usize,
}

/// The client buffer's default: bytes waiting for one client before `@connections` answers
/// 429 and replies to the client's own frames are dropped.
pub const MAX_CLIENT_BUFFER_BYTES: usize = 1024 * 1024;

/// Route invocations one connection may have running at once. AWS publishes no such bound:
/// each frame is its own invocation, and the route throttling and Lambda's concurrency limit
/// them. Here each invocation in flight holds its task in the gateway's memory, and a client
/// that sends faster than they finish would hold ever more, so one connection's frames beyond
/// this wait unread in the socket (the client feels backpressure) instead of spawning. 32 is
/// far above what a client waiting for its answers has in flight, and at the few
/// milliseconds a route takes against the store it lets one connection use the stage's whole
/// default route rate (1,000 a second); it costs latency only to a client that keeps more
/// frames in flight than that, and memory stays that of 32 invocations.
pub const MAX_INVOCATIONS_PER_CONNECTION: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: limits::MAX_FRAME_BYTES,
            max_message_bytes: limits::MAX_MESSAGE_BYTES,
            idle_timeout: Duration::from_secs(limits::IDLE_TIMEOUT_SECS),
            max_connection: Duration::from_secs(limits::MAX_CONNECTION_SECS),
            max_client_buffer_bytes: MAX_CLIENT_BUFFER_BYTES,
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_pending_connections: 4096,
            max_invocations_per_connection: MAX_INVOCATIONS_PER_CONNECTION,
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
    /// The client the runtime pushes with (`PUSH_CLIENT`).
    pub push_client: PushClient,
    /// `(access key id, secret)` of the callers whose SigV4 signatures `@connections`
    /// verifies: the runtime's local key, and the gateway environment's `AWS_ACCESS_KEY_ID`.
    pub callers: Vec<(String, String)>,
    /// The authorizer's identity sources (default: the deployed ones, from the contract).
    pub identity_sources: Vec<IdentitySource>,
    /// The event queues' settings (default: the deployed ones, from the contract).
    pub queues: QueueSettings,
    /// The push queue's settings (default: the deployed ones, from the contract).
    pub push_queue: QueueSettings,
    /// Concurrent invocations per function.
    pub concurrency: Concurrency,
    /// How many pushers run at once, and the rate each keeps to.
    pub pushers: Pushers,
    /// When the events function plans an event into push batches, and their size.
    pub plan: PlanSettings,
    /// The account throttle on `@connections` (off by default).
    pub throttle: Option<Throttle>,
    /// The stage's default route throttling on client frames (default: the deployed one, from
    /// the contract); `None`: only the account's limits apply, as for a stage without it.
    pub route_throttle: Option<Throttle>,
    /// Latency added to every `@connections` call, as a network round trip to AWS would.
    pub connections_latency: Duration,
    /// Each call's latency varies uniformly by up to this much either way, as real round
    /// trips do (never below zero).
    pub connections_jitter: Duration,
    /// New connections a second (the account quota, 500 on AWS); `None`: not limited.
    pub connect_rate: Option<u32>,
    /// Names besides the loopback ones that requests may carry in `Host` (`name` for any port,
    /// `name:port` for one), lower-case ([`crate::local_only`]).
    pub allowed_hosts: Vec<String>,
    /// Which tokens connect, and who may subscribe to what.
    pub authorization: AuthorizationSettings,
    /// The identity provider's keys, loaded before the gateway is built
    /// ([`crate::authorization::provider_keys`]); `None`: HS256 tokens only.
    pub provider_keys: Option<Arc<ProviderKeys>>,
    /// What each stream's history keeps (`HISTORY_*`; off at 0 messages).
    pub history: Retention,
}

/// One of API Gateway's throttles (the account's, or a stage's route throttling): `rate`
/// requests a second, `burst` at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Throttle {
    pub rate_per_sec: f64,
    pub burst: u32,
}

impl Throttle {
    /// AWS's default account quota: 10,000 requests/s with a 5,000 burst.
    pub fn aws_default() -> Self {
        Self {
            rate_per_sec: 10_000.0,
            burst: 5_000,
        }
    }

    /// The stage's default route throttling as deployed (`infra/` reads the same constants).
    pub fn deployed_routes() -> Self {
        Self {
            rate_per_sec: f64::from(defaults::ROUTE_THROTTLING_RATE_LIMIT),
            burst: defaults::ROUTE_THROTTLING_BURST_LIMIT,
        }
    }
}

/// A queue's settings and its event source mapping's batch size, as `infra/` declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Records per invocation.
    pub batch_size: usize,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// How long a received message stays invisible before it can be received again.
    pub visibility_timeout: Duration,
}

/// The event queues' settings (EventBridge → SQS → the events function).
impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            batch_size: event_queue::BATCH_SIZE as usize,
            max_receive_count: event_queue::MAX_RECEIVE_COUNT,
            visibility_timeout: Duration::from_secs(event_queue::VISIBILITY_TIMEOUT_SECS),
        }
    }
}

impl QueueSettings {
    /// The push queue's settings (the planner → SQS → the pushers).
    pub fn push() -> Self {
        Self {
            batch_size: push_queue::BATCH_SIZE as usize,
            max_receive_count: push_queue::MAX_RECEIVE_COUNT,
            visibility_timeout: Duration::from_secs(push_queue::VISIBILITY_TIMEOUT_SECS),
        }
    }
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
            push_client: PushClient::default(),
            callers: vec![(
                wspush_runtime::aws::LOCAL_ACCESS_KEY_ID.to_string(),
                wspush_runtime::aws::LOCAL_SECRET_ACCESS_KEY.to_string(),
            )],
            identity_sources: identity::parse_all(&authorizer::IDENTITY_SOURCES)
                .unwrap_or_default(),
            queues: QueueSettings::default(),
            push_queue: QueueSettings::push(),
            concurrency: Concurrency::default(),
            pushers: Pushers::default(),
            plan: PlanSettings::default(),
            throttle: None,
            route_throttle: Some(Throttle::deployed_routes()),
            connections_latency: Duration::ZERO,
            connections_jitter: Duration::ZERO,
            connect_rate: None,
            allowed_hosts: Vec::new(),
            authorization: AuthorizationSettings::default(),
            history: wspush_runtime::config::default_retention(),
            provider_keys: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_deployed_settings() {
        let config = GatewayConfig::default();
        assert_eq!(
            config.identity_sources,
            identity::parse_all(&authorizer::IDENTITY_SOURCES).expect("contract parses")
        );
        assert_eq!(
            config.identity_sources.len(),
            authorizer::IDENTITY_SOURCES.len()
        );
        assert_eq!(config.queues.batch_size, 10);
        assert_eq!(
            config.queues.max_receive_count,
            event_queue::MAX_RECEIVE_COUNT
        );
        assert_eq!(
            config.queues.visibility_timeout.as_secs(),
            event_queue::VISIBILITY_TIMEOUT_SECS
        );
        assert_eq!(config.push_queue.batch_size, 1);
        assert_eq!(
            config.push_queue.max_receive_count,
            push_queue::MAX_RECEIVE_COUNT
        );
        assert_eq!(
            config.push_queue.visibility_timeout.as_secs(),
            push_queue::VISIBILITY_TIMEOUT_SECS
        );
        assert_eq!(
            config.pushers,
            Pushers {
                count: 4,
                max_rate: None
            },
            "pushers for the default rate, unpaced: the account throttle is off locally"
        );
        assert_eq!(config.throttle, None);
        let routes = config
            .route_throttle
            .expect("route throttling is on, as deployed");
        assert_eq!(routes.rate_per_sec, 1_000.0);
        assert_eq!(routes.burst, 500);
    }
}
