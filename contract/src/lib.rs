//! Names that the deployment (`infra/`), the Lambda runtime (`runtime/`) and the local gateway
//! (`gateway/`) must agree on.
//!
//! Why a crate of its own: the infrastructure program sets environment variables and route keys
//! that the runtime reads. If both spelled them separately they would drift silently and the
//! failure would only show after a deploy. This crate has no dependencies, so depending on it
//! costs the infra build nothing.

/// Environment variables the Lambda function reads at cold start.
pub mod env {
    /// DynamoDB table holding connections and subscriptions.
    pub const TABLE_NAME: &str = "TABLE_NAME";
    /// Global secondary index keyed by `GSI1PK`/`GSI1SK` (user id or entity id).
    pub const INDEX_NAME: &str = "INDEX_NAME";
    /// Seconds a connection or subscription record lives before DynamoDB's TTL may remove it.
    pub const RECORD_TTL_SECONDS: &str = "RECORD_TTL_SECONDS";
    /// Base URL of the API Gateway Management API (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub const MANAGEMENT_ENDPOINT: &str = "MANAGEMENT_ENDPOINT";
    /// Secrets Manager id (name or ARN) of the HS256 signing secret. Used in AWS.
    pub const JWT_SECRET_ID: &str = "JWT_SECRET_ID";
    /// The HS256 signing secret itself. Used locally; takes precedence over `JWT_SECRET_ID`.
    pub const JWT_SECRET: &str = "JWT_SECRET";
    /// Expected `iss` claim, when set.
    pub const JWT_ISSUER: &str = "JWT_ISSUER";
    /// Expected `aud` claim, when set.
    pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
    /// `true` only on the function deployed as `CreateTestJwt`: allows minting test tokens.
    pub const TEST_TOKENS_ENABLED: &str = "TEST_TOKENS_ENABLED";
    /// Maximum PostToConnection calls in flight for one event.
    pub const PUSH_CONCURRENCY: &str = "PUSH_CONCURRENCY";
    /// Attempts per connection for throttled or 5xx pushes (first try included).
    pub const PUSH_MAX_ATTEMPTS: &str = "PUSH_MAX_ATTEMPTS";
    /// `json` (default in Lambda) or `text`.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
}

/// Defaults shared by the deployment and the runtime.
pub mod defaults {
    pub const TABLE_NAME: &str = "websocket";
    pub const INDEX_NAME: &str = "GSI1";
    /// Three hours: outlives API Gateway's two-hour maximum connection duration.
    pub const RECORD_TTL_SECONDS: u64 = 3 * 60 * 60;
    pub const PUSH_CONCURRENCY: usize = 32;
    pub const PUSH_MAX_ATTEMPTS: u32 = 5;
    pub const STAGE: &str = "production";
    /// Name under which the token-minting function is deployed and invoked.
    pub const TEST_TOKEN_FUNCTION: &str = "CreateTestJwt";
}

/// WebSocket route keys, selected by `$request.body.action`.
pub mod routes {
    pub const CONNECT: &str = "$connect";
    pub const DISCONNECT: &str = "$disconnect";
    pub const DEFAULT: &str = "$default";
    pub const SUBSCRIBE: &str = "subscribe";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
    pub const PING: &str = "ping";
    /// The route selection expression of the API.
    pub const SELECTION_EXPRESSION: &str = "$request.body.action";
    /// Routes that answer the client with a route response (two-way routes).
    pub const TWO_WAY: [&str; 4] = [SUBSCRIBE, UNSUBSCRIBE, PING, DEFAULT];
    /// Every route the API declares.
    pub const ALL: [&str; 6] = [CONNECT, DISCONNECT, SUBSCRIBE, UNSUBSCRIBE, PING, DEFAULT];
}

/// EventBridge `detail-type` values the rules match.
pub mod detail_types {
    pub const ENTITY_UPDATED: &str = "Entity Updated";
    pub const USER_PUSH: &str = "Send User Push Notification";
    pub const ALL: [&str; 2] = [ENTITY_UPDATED, USER_PUSH];
}

/// API Gateway WebSocket limits (AWS documentation, "Amazon API Gateway quotas").
pub mod limits {
    /// Largest message a client or `@connections` POST may send.
    pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
    /// Largest single WebSocket frame.
    pub const MAX_FRAME_BYTES: usize = 32 * 1024;
    pub const IDLE_TIMEOUT_SECS: u64 = 10 * 60;
    pub const MAX_CONNECTION_SECS: u64 = 2 * 60 * 60;
    /// Authorizer context values must stay under this size in total.
    pub const MAX_AUTHORIZER_CONTEXT_BYTES: usize = 8 * 1024;
}
