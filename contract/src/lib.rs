//! Names that the deployment (`infra/`), the Lambda runtime (`runtime/`) and the local gateway
//! (`gateway/`) must agree on.
//!
//! Why a crate of its own: the infrastructure program sets environment variables and route keys
//! that the runtime reads. If both spelled them separately they would drift silently and the
//! failure would only show after a deploy. This crate has no dependencies, so depending on it
//! costs the infra build nothing.

pub mod subscribe_policy;

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
    /// Expected `aud` claim, when set (for Cognito access tokens, which carry no `aud`: the
    /// `client_id` claim).
    pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
    /// The identity provider's JSON Web Key Set, when its issuer publishes no
    /// `/.well-known/openid-configuration` (else found through it). Setting `JWT_ISSUER` or
    /// this makes the authorizer accept the provider's RS256, PS256, ES256 and EdDSA tokens.
    pub const JWKS_URL: &str = "JWKS_URL";
    /// The claim that names the user, a dotted path for nested claims (`sub`, `data.userId`).
    /// Unset: `data.userId` when the token has it (the quick start's tokens), else `sub`.
    pub const JWT_USER_CLAIM: &str = "JWT_USER_CLAIM";
    /// Seconds of clock skew tolerated on a token's `exp` and `nbf` (default 30), at `$connect`
    /// and when a connection's token is checked again.
    pub const JWT_LEEWAY_SECONDS: &str = "JWT_LEEWAY_SECONDS";
    /// `false` refuses HS256 tokens signed with the JWT secret, where an identity provider is
    /// configured and test tokens must not connect. Default `true`.
    pub const JWT_HS256_ENABLED: &str = "JWT_HS256_ENABLED";
    /// Who may subscribe to what: comma-separated entity-id templates (`user/{sub}/*`), `*`
    /// for every entity. Read by the authorizer (which claims to pass on) and the routes.
    pub const SUBSCRIBE_POLICY: &str = "SUBSCRIBE_POLICY";
    /// The application's own decision on subscriptions the policy does not allow: a Lambda
    /// function name or ARN (deployed), or an `http://` URL on a loopback address (local).
    pub const SUBSCRIBE_AUTHORIZER: &str = "SUBSCRIBE_AUTHORIZER";
    /// Subscriptions one connection may hold at once.
    pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: &str = "MAX_SUBSCRIPTIONS_PER_CONNECTION";
    /// `true` only on the function deployed as `CreateTestJwt`: allows minting test tokens.
    pub const TEST_TOKENS_ENABLED: &str = "TEST_TOKENS_ENABLED";
    /// Most PostToConnection calls in flight for one event (the adaptive window's upper bound).
    pub const PUSH_CONCURRENCY: &str = "PUSH_CONCURRENCY";
    /// Fewest PostToConnection calls in flight the adaptive window may shrink to.
    pub const PUSH_MIN_CONCURRENCY: &str = "PUSH_MIN_CONCURRENCY";
    /// The adaptive window at the start of each event's fan-out.
    pub const PUSH_INITIAL_CONCURRENCY: &str = "PUSH_INITIAL_CONCURRENCY";
    /// PostToConnection calls per second one event never exceeds (unset: found by 429s alone),
    /// e.g. to leave part of the account's API Gateway throttle to other traffic.
    pub const PUSH_MAX_RATE: &str = "PUSH_MAX_RATE";
    /// Attempts per connection for throttled or 5xx pushes (first try included).
    pub const PUSH_MAX_ATTEMPTS: &str = "PUSH_MAX_ATTEMPTS";
    /// How pushes reach `@connections`: `signed-http` (default: one SigV4-signed HTTP request
    /// per call) or `sdk` (the `aws-sdk-apigatewaymanagement` client, slower per call; a
    /// switch back without a new build should the signed requests ever be refused).
    pub const PUSH_CLIENT: &str = "PUSH_CLIENT";
    /// `json` (default in Lambda) or `text`.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// Comma-separated event kinds this function serves (`crate::event_kinds`); unset: all.
    pub const EVENT_KINDS: &str = "EVENT_KINDS";
    /// Where the events function moves a record that can never succeed, at once: a JSON object
    /// mapping each source queue's ARN (a record's `eventSourceARN`) to the URL of that
    /// queue's dead-letter queue. Unset: such records are retried until SQS moves them.
    pub const DEAD_LETTER_QUEUES: &str = "DEAD_LETTER_QUEUES";
    /// Seconds each message stays in its stream's history, for resume and `history`.
    pub const HISTORY_RETENTION_SECONDS: &str = "HISTORY_RETENTION_SECONDS";
    /// Messages each stream's history keeps at most; `0` switches streams off (pushes carry
    /// no `streamId`/`serial`, and nothing can be resumed).
    pub const HISTORY_MAX_MESSAGES: &str = "HISTORY_MAX_MESSAGES";
    /// The push queue's URL: where the events function enqueues push batches for an audience
    /// above [`PUSH_PLAN_THRESHOLD`]. Unset: every event is pushed by the invocation that
    /// reads it.
    pub const PUSH_QUEUE_URL: &str = "PUSH_QUEUE_URL";
    /// Recipients above which the events function plans (enqueues push batches for the
    /// pushers) instead of pushing itself.
    pub const PUSH_PLAN_THRESHOLD: &str = "PUSH_PLAN_THRESHOLD";
    /// Connection ids per push batch (one push-queue message).
    pub const PUSH_BATCH_CONNECTIONS: &str = "PUSH_BATCH_CONNECTIONS";
    /// How many index keys each entity's subscriptions are spread over (`{entityId}#{shard}`),
    /// so a hot entity's subscription writes and reads use as many partitions.
    pub const INDEX_SHARDS: &str = "INDEX_SHARDS";
}

/// The message attributes a dead letter carries, named as EventBridge names those it attaches
/// to the messages of a target's dead-letter queue.
pub mod dead_letter_attributes {
    /// What kind of failure: the error type the runtime reports to Lambda (`InvalidEvent`).
    pub const ERROR_CODE: &str = "ERROR_CODE";
    /// Why the record can never succeed, in words.
    pub const ERROR_MESSAGE: &str = "ERROR_MESSAGE";
}

/// The values of `env::PUSH_CLIENT`.
pub mod push_clients {
    /// One SigV4-signed HTTP request per PostToConnection (the default).
    pub const SIGNED_HTTP: &str = "signed-http";
    /// The `aws-sdk-apigatewaymanagement` client.
    pub const SDK: &str = "sdk";
    pub const ALL: [&str; 2] = [SIGNED_HTTP, SDK];
}

/// Defaults shared by the deployment and the runtime.
pub mod defaults {
    pub const TABLE_NAME: &str = "websocket";
    pub const INDEX_NAME: &str = "GSI1";
    /// Three hours: outlives API Gateway's two-hour maximum connection duration.
    pub const RECORD_TTL_SECONDS: u64 = 3 * 60 * 60;
    /// Upper bound of the adaptive window: twice what the account throttle (10,000 calls/s)
    /// needs in flight at ~25 ms a call, so latency, not this bound, decides; the adaptive
    /// window and the pacing keep the calls actually in flight lower when latency or 429s
    /// say so.
    pub const PUSH_CONCURRENCY: usize = 512;
    /// The most `PUSH_CONCURRENCY` may be: every call in flight holds a socket, and a Lambda
    /// execution environment has 1,024 file descriptors; the rest is left for the runtime's
    /// own (DynamoDB's connections, the Runtime API, logs).
    pub const PUSH_CONCURRENCY_LIMIT: usize = 900;
    pub const PUSH_MIN_CONCURRENCY: usize = 4;
    /// Where the window starts; slow start doubles it every round trip.
    pub const PUSH_INITIAL_CONCURRENCY: usize = 32;
    /// The paced rate never drops below this many calls per second.
    pub const PUSH_MIN_RATE: u32 = 10;
    pub const PUSH_MAX_ATTEMPTS: u32 = 5;
    pub const STAGE: &str = "production";
    /// The stage's default route throttling: requests a second each route of the stage admits,
    /// across all its clients. Well under the account's 10,000/s, so one API cannot take the
    /// whole account's throttle; a client over it gets a throttled answer, not an invocation.
    pub const ROUTE_THROTTLING_RATE_LIMIT: u32 = 1_000;
    /// The stage's default route throttling burst: requests each route admits at once.
    pub const ROUTE_THROTTLING_BURST_LIMIT: u32 = 500;
    /// The `message` of the error frame a throttled client frame is answered with: the reason
    /// phrase of the 429 API Gateway answers a throttled request with. Clients resubmit on it.
    pub const THROTTLED_MESSAGE: &str = "Too Many Requests";
    /// Name under which the token-minting function is deployed and invoked.
    pub const TEST_TOKEN_FUNCTION: &str = "CreateTestJwt";
    /// Seconds of clock skew tolerated on a token's `exp` and `nbf`.
    pub const JWT_LEEWAY_SECONDS: u64 = 30;
    /// Subscriptions one connection may hold at once, as AppSync Events allows.
    pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 200;
    /// The local gateway's subscribe policy when none is given: every entity, the quick
    /// start's behaviour. A deployment must choose its own.
    pub const LOCAL_SUBSCRIBE_POLICY: &str = "*";
    /// A day of history: a client away for less than that resumes without a gap.
    pub const HISTORY_RETENTION_SECONDS: u64 = 24 * 60 * 60;
    /// The most messages one stream's history keeps: also the most one resume replays.
    pub const HISTORY_MAX_MESSAGES: u64 = 1_000;
    /// The longest history retention allowed: DynamoDB's TTL attribute and the stream's
    /// record must stay meaningful, and a week covers any client worth resuming.
    pub const HISTORY_MAX_RETENTION_SECONDS: u64 = 7 * 24 * 60 * 60;
    /// The most messages a stream's history may be configured to keep: a resume replays at
    /// most this many pushes, one after another, inside the routes function's timeout.
    pub const HISTORY_MAX_MESSAGES_LIMIT: u64 = 10_000;
    /// Above this many recipients an event is planned into push batches for the pushers;
    /// up to it, the events function pushes it itself (one invocation reaches 10,000
    /// connections in well under a second, the queue's hop would only add latency).
    pub const PUSH_PLAN_THRESHOLD: usize = 10_000;
    /// Connection ids per push batch: with each id's token expiry, about 32 KB of JSON, so a
    /// batch and a frame of up to [`super::push_queue::INLINE_FRAME_BYTES`] stay within one
    /// 64 KB SQS request unit.
    pub const PUSH_BATCH_CONNECTIONS: usize = 1_000;
    /// The most connection ids one push batch may carry (its message stays far below SQS's
    /// 1 MiB).
    pub const PUSH_BATCH_CONNECTIONS_LIMIT: usize = 5_000;
    /// Index keys per entity: four partitions take four times the writes one takes
    /// (DynamoDB allows about 1,000 a second per partition key), beyond the stage's default
    /// subscribe throttle of 1,000 a second.
    pub const INDEX_SHARDS: u32 = 4;
    /// The most index keys per entity: every fan-out reads all of them, in parallel.
    pub const INDEX_SHARDS_LIMIT: u32 = 64;
    /// `@connections` calls a second the pushers together aim at: API Gateway's default
    /// account throttle in a Region.
    pub const PUSH_RATE_LIMIT: u32 = 10_000;
}

/// The keys of the context the `$connect` authorizer hands to every route (string values
/// only, within [`limits::MAX_AUTHORIZER_CONTEXT_BYTES`]).
pub mod authorizer_context {
    /// The user id the token names.
    pub const USER_ID: &str = "userId";
    /// The token's `exp`, whole unix seconds: the connection ends with its token.
    pub const TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";
    /// The token's claims as JSON text, for the subscribe policy and hook: every claim when
    /// they fit the context, else the ones the policy names.
    pub const CLAIMS: &str = "claims";
}

/// The codes of the `Error` frames a client receives (`{"type":"Error","code":…}`).
pub mod error_codes {
    /// The frame is not a request the API understands.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// The subscribe policy and hook do not allow this user that entity.
    pub const FORBIDDEN: &str = "Forbidden";
    /// The connection holds [`super::defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION`] already.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "TooManySubscriptions";
    /// The connection's token has expired; the connection is closed after this frame.
    pub const TOKEN_EXPIRED: &str = "TokenExpired";
    /// A passing fault (the store); the same frame may be sent again.
    pub const UNAVAILABLE: &str = "Unavailable";
    /// Streams are switched off (`HISTORY_MAX_MESSAGES=0`): nothing to resume or page through.
    pub const HISTORY_DISABLED: &str = "HistoryDisabled";
}

/// The `reason` of a `ResumeFailed` reply: why continuity from the client's position could not
/// be proven. The subscription stands either way.
pub mod resume_failures {
    /// The messages after the position are past retention, or trimmed by the most kept.
    pub const POSITION_EXPIRED: &str = "position_expired";
    /// The position names another generation of the stream.
    pub const STREAM_RESET: &str = "stream_reset";
    /// History has a gap after the position, or the position is ahead of the stream.
    pub const CONTINUITY_UNVERIFIABLE: &str = "continuity_unverifiable";
    /// The store failed while history was read.
    pub const HISTORY_UNAVAILABLE: &str = "history_unavailable";
    pub const ALL: [&str; 4] = [
        POSITION_EXPIRED,
        STREAM_RESET,
        CONTINUITY_UNVERIFIABLE,
        HISTORY_UNAVAILABLE,
    ];
}

/// WebSocket route keys, selected by `$request.body.action`.
pub mod routes {
    pub const CONNECT: &str = "$connect";
    pub const DISCONNECT: &str = "$disconnect";
    pub const DEFAULT: &str = "$default";
    pub const SUBSCRIBE: &str = "subscribe";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
    pub const PING: &str = "ping";
    /// Replays the caller's own user stream from a position.
    pub const RESUME: &str = "resume";
    /// Pages through a stream's history.
    pub const HISTORY: &str = "history";
    /// The subprotocol clients offer alongside a token (`Sec-WebSocket-Protocol: websocket, JWT`).
    /// `$connect` returns it when offered: API Gateway selects only what `$connect` returns.
    pub const SUBPROTOCOL: &str = "websocket";
    /// The route selection expression of the API.
    pub const SELECTION_EXPRESSION: &str = "$request.body.action";
    /// Routes that answer the client with a route response (two-way routes).
    pub const TWO_WAY: [&str; 6] = [SUBSCRIBE, UNSUBSCRIBE, PING, RESUME, HISTORY, DEFAULT];
    /// Every route the API declares.
    pub const ALL: [&str; 8] = [
        CONNECT,
        DISCONNECT,
        SUBSCRIBE,
        UNSUBSCRIBE,
        PING,
        RESUME,
        HISTORY,
        DEFAULT,
    ];
}

/// EventBridge `detail-type` values the rules match.
pub mod detail_types {
    pub const ENTITY_UPDATED: &str = "Entity Updated";
    pub const USER_PUSH: &str = "Send User Push Notification";
    pub const ALL: [&str; 2] = [ENTITY_UPDATED, USER_PUSH];
}

/// How deep the JSON of an event's detail may nest, for the runtime and the local gateway alike.
///
/// The events function reads an event delivered directly (not through SQS) as the Lambda
/// runtime parses it: one serde_json document, whose recursion limit counts the event's own
/// object above the detail. The runtime refuses a detail nested deeper than that on every path,
/// so an event never succeeds through SQS and fails when invoked directly, and the local gateway
/// refuses it at `PutEvents` instead of accepting an event that can only be dead-lettered.
pub mod nesting {
    /// The most arrays and objects serde_json reads nested in one document: its recursion limit
    /// of 128 refuses the 128th level.
    pub const SERDE_JSON_MAX_DEPTH: usize = 127;
    /// Levels of an EventBridge event above its detail's object: the event's own object.
    pub const EVENT_LEVELS_ABOVE_DETAIL: usize = 1;
    /// The deepest a detail may nest, its own object counted as 1: a `message` inside it may
    /// nest one level less ([`MAX_MESSAGE_DEPTH`]).
    pub const MAX_DETAIL_DEPTH: usize = SERDE_JSON_MAX_DEPTH - EVENT_LEVELS_ABOVE_DETAIL;
    /// The deepest a detail's `message` may nest, itself counted as 1 (a scalar nests 0 deep).
    pub const MAX_MESSAGE_DEPTH: usize = MAX_DETAIL_DEPTH - 1;
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
    /// The authorizer's whole result ("AWS Lambda authorizer result size").
    pub const MAX_AUTHORIZER_RESULT_BYTES: usize = 8 * 1024;
    /// Characters in the URL of a WebSocket API request.
    pub const MAX_URL_CHARS: usize = 4096;
    /// New connections a second per account and Region (adjustable by AWS Support).
    pub const NEW_CONNECTIONS_PER_SEC: u32 = 500;
}

/// The `$connect` REQUEST authorizer as deployed.
pub mod authorizer {
    /// Identity sources API Gateway checks before it invokes the authorizer. When any listed
    /// source is missing from the handshake, API Gateway answers 401 without invoking it.
    ///
    /// The token may arrive in the query string *or* in `Sec-WebSocket-Protocol`, so neither
    /// can be listed (either alone would refuse the other). An empty list is not reliably
    /// accepted for WebSocket APIs (see docs/deploy.md), so the one source is a context
    /// parameter every handshake has: the authorizer runs for every `$connect` and finds the
    /// token itself.
    pub const IDENTITY_SOURCES: [&str; 1] = ["context.connectionId"];
}

/// The DynamoDB table's layout: key attributes, the index, the TTL attribute and the sort-key
/// values of each item kind (the quick start's).
pub mod table {
    /// Partition key: the connection id.
    pub const PARTITION_KEY: &str = "pk";
    /// Sort key: [`CONNECTION_SORT_KEY`] or [`SUBSCRIPTION_PREFIX`]`{entityId}`.
    pub const SORT_KEY: &str = "sk";
    /// The index's partition key: the user id (connections) or the entity id (subscriptions).
    pub const INDEX_PARTITION_KEY: &str = "GSI1PK";
    /// The index's sort key: [`USER_INDEX_SORT_KEY`] or [`SUBSCRIPTION_PREFIX`], followed by
    /// the connection's token `exp` when known (`subscription#1767225600`), so a fan-out reads
    /// each recipient's token expiry from the index alone.
    pub const INDEX_SORT_KEY: &str = "GSI1SK";
    /// Epoch seconds after which DynamoDB's TTL may delete the item.
    pub const TTL_ATTRIBUTE: &str = "ttl";
    /// Sort key of a connection item.
    pub const CONNECTION_SORT_KEY: &str = "connection#";
    /// Index sort key of a connection item (found by user id).
    pub const USER_INDEX_SORT_KEY: &str = "user#";
    /// Sort-key prefix of subscription items, and the index sort-key prefix of subscriptions
    /// written under the entity id alone (before the index was sharded; read until their TTL).
    pub const SUBSCRIPTION_PREFIX: &str = "subscription#";
    /// The index sort-key prefix of subscriptions written under a sharded index key,
    /// `{entityId}#{shard}`. Why a prefix of its own: an entity id may contain `#`, so the
    /// sharded key of entity `a` (`a#0`) can equal the unsharded key of entity `a#0`; the
    /// prefixes keep the two apart (neither begins with the other). Among sharded keys there
    /// is no collision: the shard is digits after the last `#`.
    pub const SHARDED_SUBSCRIPTION_PREFIX: &str = "shard-subscription#";
    /// Connection item attributes beyond the keys.
    pub const CONNECTED_AT: &str = "connectedAt";
    /// How many subscriptions the connection holds, counted atomically against the cap.
    pub const SUBSCRIPTION_COUNT: &str = "subscriptionCount";
    pub const IP_ADDRESS: &str = "ipAddress";
    /// Partition-key prefix of an entity's stream items (`stream#entity#{entityId}`). Connection
    /// ids never contain `#`, and the `entity#` / `user#` tags differ at their first character,
    /// so no stream key equals another stream's or a connection's, whatever the ids contain.
    pub const ENTITY_STREAM_PREFIX: &str = "stream#entity#";
    /// Partition-key prefix of a user's stream items (`stream#user#{userId}`).
    pub const USER_STREAM_PREFIX: &str = "stream#user#";
    /// Sort key of a stream's head: its generation, newest serial and oldest kept serial.
    pub const STREAM_HEAD_SORT_KEY: &str = "head#";
    /// Sort-key prefix of a stream's messages, followed by the serial in 20 digits.
    pub const STREAM_MESSAGE_PREFIX: &str = "message#";
    /// Sort-key prefix of the marker that ties an EventBridge event id to its serial, so a
    /// redelivered event keeps the serial it was given.
    pub const STREAM_EVENT_PREFIX: &str = "event#";
    /// Head attributes.
    pub const STREAM_GENERATION: &str = "streamId";
    pub const STREAM_SERIAL: &str = "serial";
    pub const STREAM_OLDEST: &str = "oldestSerial";
    /// A message item's frame, without its position (added when it is sent).
    pub const STREAM_FRAME: &str = "frame";
    pub const STREAM_EVENT_ID: &str = "eventId";
    /// When a message leaves history (epoch seconds). Reads check it, whatever TTL has not
    /// deleted yet.
    pub const STREAM_EXPIRES_AT: &str = "expiresAt";
}

/// Each deployed function's time limit, and the timeouts inside it. Every outbound call
/// gives up well inside the function's own timeout, so a stalled dependency ends in a clear
/// error the function can still report, not in Lambda killing it mid-way.
pub mod timeouts {
    /// The authorizer, the connection routes and CreateTestJwt.
    pub const ROUTE_FUNCTION_SECS: u64 = 10;
    /// The event consumer (fan-out); the queues' visibility timeout derives from it.
    pub const EVENTS_FUNCTION_SECS: u64 = 30;
    /// One DynamoDB attempt.
    pub const DYNAMODB_ATTEMPT_MS: u64 = 2_000;
    /// One DynamoDB operation, its retries included.
    pub const DYNAMODB_OPERATION_MS: u64 = 5_000;
    /// Removing one connection's records (`$disconnect`, and the fan-out's cleanup of a gone
    /// connection): reading and deleting stop here, and whatever is left expires by TTL. It
    /// cancels the calls still in flight, so it ends on time; the 3 s under the routes
    /// function's timeout hold the reply (milliseconds) with room to spare.
    pub const CONNECTION_REMOVAL_MS: u64 = ROUTE_FUNCTION_SECS * 1_000 - 3_000;
    /// Replaying missed messages to a resuming client, one after another: the replay stops
    /// here and the reply gives the position reached, so the client pages through the rest
    /// of history (far faster: a hundred messages a reply) instead of the route timing out.
    pub const REPLAY_MS: u64 = ROUTE_FUNCTION_SECS * 1_000 - 3_000;
    /// One PostToConnection call (the fan-out retries on its own).
    pub const PUSH_ATTEMPT_MS: u64 = 3_000;
    /// One SendMessage to a dead-letter queue; a record whose send fails is retried by SQS.
    pub const DEAD_LETTER_SEND_MS: u64 = 3_000;
    /// One `SendMessageBatch` of push batches to the push queue; a request that fails is
    /// sent again, up to five times, inside the events function's timeout.
    pub const PUSH_QUEUE_SEND_MS: u64 = 3_000;
    /// Opening one TCP connection (and its TLS session) to any AWS endpoint. Shorter than
    /// every attempt timeout, so a black-holed endpoint leaves time for another attempt.
    pub const CONNECT_MS: u64 = 1_000;
    /// Reading the JWT secret from Secrets Manager at cold start, retries included: inside
    /// Lambda's 10 s init limit, so a stalled Secrets Manager is reported as an init error.
    pub const SECRET_FETCH_MS: u64 = 5_000;
    /// Reading the identity provider's discovery document and key set, each: at cold start
    /// (inside the 10 s init limit with both) and on an unknown `kid`.
    pub const JWKS_FETCH_MS: u64 = 3_000;
    /// The key set is fetched again for an unknown `kid` at most this often, so forged `kid`s
    /// cannot make the function hammer the provider.
    pub const JWKS_REFETCH_INTERVAL_SECS: u64 = 60;
    /// The pushers, which drain the push queue.
    pub const PUSHER_FUNCTION_SECS: u64 = 60;
    /// Asking the subscribe hook; no answer in time denies.
    pub const SUBSCRIBE_AUTHORIZER_MS: u64 = 2_000;
}

/// The runtime's HTTP connection pool, shared by every SDK client of one process.
pub mod http_pool {
    /// Idle connections kept per host (DynamoDB, `@connections`): as many as a fan-out may
    /// have in flight, so every connection its adaptive window opened is reused by the next
    /// call instead of being closed and opened again (on AWS a TCP and TLS handshake per call).
    /// A profile of the 10,000-subscriber fan-out found that churn when this was 64: the window
    /// grows to hundreds and is cut and regrown several times per fan-out. Keeping them costs
    /// no extra descriptors at the peak: the pool never holds more connections than the most
    /// calls that were in flight at once, and idle ones close after [`IDLE_TIMEOUT_SECS`].
    pub const MAX_IDLE_PER_HOST: usize = super::defaults::PUSH_CONCURRENCY_LIMIT;
    /// How long an idle connection is kept. Long enough that the next warm invocation reuses
    /// it (a new TLS session costs far more than the request), short enough that the local
    /// gateway's descriptors come back soon after a burst.
    pub const IDLE_TIMEOUT_SECS: u64 = 60;
}

/// The EventBridge → SQS → Lambda pipeline's settings, read by `infra/` to declare the queues
/// and by the local gateway to run its local queues the same way.
pub mod event_queue {
    /// Records per Lambda invocation.
    pub const BATCH_SIZE: u32 = 10;
    /// Receives before a message moves to the dead-letter queue. AWS advises at least 5 for a
    /// Lambda event source, so throttled receives do not dead-letter early.
    pub const MAX_RECEIVE_COUNT: u32 = 5;
    /// AWS advises at least six times the function timeout, so a message is not handed out
    /// again while a slow invocation still holds it.
    pub const VISIBILITY_TIMEOUT_SECS: u64 = 6 * super::timeouts::EVENTS_FUNCTION_SECS;
    /// How long the dead-letter queues keep a message (SQS's maximum, 14 days).
    pub const DLQ_RETENTION_SECS: u64 = 14 * 24 * 60 * 60;
    /// EventBridge target retry policy: how long and how often EventBridge retries delivering
    /// an event to the queue before sending it to the target's dead-letter queue.
    pub const TARGET_MAX_EVENT_AGE_SECS: u64 = 24 * 60 * 60;
    pub const TARGET_MAX_RETRY_ATTEMPTS: u32 = 185;
}

/// The push queue: the events function's planner enqueues push batches (one message each: a
/// stream position or a frame, and up to [`defaults::PUSH_BATCH_CONNECTIONS`] connection ids),
/// and the pushers drain it. Read by `infra/` to declare it and by the local gateway to run it.
pub mod push_queue {
    /// The queue's name (its dead-letter queue is `{name}-dlq`).
    pub const NAME: &str = "push";
    /// The message attribute that marks a push batch, so a function told to serve push
    /// batches never mistakes an event queue's record for one (or the reverse).
    pub const KIND_ATTRIBUTE: &str = "WSPUSH_KIND";
    /// Its value on a push batch.
    pub const PUSH_BATCH: &str = "push-batch";
    /// Messages per pusher invocation: one, so a planned event's batches spread over every
    /// pusher at once instead of queueing behind one invocation.
    pub const BATCH_SIZE: u32 = 1;
    pub const MAX_RECEIVE_COUNT: u32 = 5;
    /// Six times the pushers' timeout, as AWS advises for a Lambda event source.
    pub const VISIBILITY_TIMEOUT_SECS: u64 = 6 * super::timeouts::PUSHER_FUNCTION_SECS;
    /// Frames up to this size travel inside each batch; a larger one is read once per batch
    /// from its stream's history (when streams are off, it travels inline whatever its size).
    pub const INLINE_FRAME_BYTES: usize = 16 * 1024;
    /// `@connections` calls a second one pusher is given at most: a share small enough that
    /// a few pushers reach the account throttle together, each well inside what one
    /// invocation's sockets can carry.
    pub const RATE_PER_PUSHER: u32 = 2_500;
    /// The fewest and most concurrent pushers an SQS event source mapping allows
    /// (`ScalingConfig.MaximumConcurrency`).
    pub const MIN_PUSHERS: u32 = 2;
    pub const MAX_PUSHERS: u32 = 1_000;

    /// How many pushers run at once for `rate_limit` calls a second together: enough that
    /// each stays within [`RATE_PER_PUSHER`].
    pub const fn pushers(rate_limit: u32) -> u32 {
        let needed = rate_limit.div_ceil(RATE_PER_PUSHER);
        if needed < MIN_PUSHERS {
            MIN_PUSHERS
        } else if needed > MAX_PUSHERS {
            MAX_PUSHERS
        } else {
            needed
        }
    }

    /// Each pusher's rate: `rate_limit` shared evenly by [`pushers`], so all of them together
    /// never exceed it (at least one call a second).
    pub const fn rate_per_pusher(rate_limit: u32) -> u32 {
        let share = rate_limit / pushers(rate_limit);
        if share == 0 {
            1
        } else {
            share
        }
    }
}

/// Which event kinds each deployed function serves. The runtime reads the list from
/// [`env::EVENT_KINDS`] and refuses every other shape, so a function that may be invoked
/// for one job cannot be made to do another's.
pub mod event_kinds {
    pub const AUTHORIZER: &str = "authorizer";
    pub const WEBSOCKET: &str = "websocket";
    pub const EVENTBRIDGE: &str = "eventbridge";
    pub const SQS: &str = "sqs";
    pub const TEST_TOKEN: &str = "test-token";
    /// SQS records of the push queue, each a push batch
    /// ([`super::push_queue::KIND_ATTRIBUTE`]).
    pub const PUSH_BATCH: &str = super::push_queue::PUSH_BATCH;
    /// Every kind; the default when [`env::EVENT_KINDS`] is unset (the local gateway hosts
    /// every function in one process).
    pub const ALL: [&str; 6] = [
        AUTHORIZER,
        WEBSOCKET,
        EVENTBRIDGE,
        SQS,
        TEST_TOKEN,
        PUSH_BATCH,
    ];

    /// The authorizer function.
    pub const AUTHORIZER_FUNCTION: [&str; 1] = [AUTHORIZER];
    /// The connection-routes function.
    pub const ROUTES_FUNCTION: [&str; 1] = [WEBSOCKET];
    /// The event consumer: SQS batches, and EventBridge events delivered directly.
    pub const EVENTS_FUNCTION: [&str; 2] = [SQS, EVENTBRIDGE];
    /// CreateTestJwt.
    pub const TEST_TOKEN_FUNCTION: [&str; 1] = [TEST_TOKEN];
    /// The pushers: push batches from the push queue.
    pub const PUSHER_FUNCTION: [&str; 1] = [PUSH_BATCH];
}
