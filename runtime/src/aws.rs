//! Building the AWS-backed dependencies once per cold start.
//!
//! The only module that knows which SDK clients exist: it reads the JWT secret from Secrets
//! Manager, points the Management API client at the configured endpoint (AWS or the local
//! gateway), and turns the SDK's own retries off for pushes, which the fan-out retries itself.
//! It also hands the configuration's region and credentials to the clients that sign their
//! own requests (the signed-HTTP pusher, the dead-letter sender).
//!
//! Every client of one [`SdkConfig`] shares one HTTPS client ([`http_client`]): a bounded pool
//! of reused connections, with rustls on ring as the one TLS stack. Every call has a connect
//! timeout and an operation timeout (and DynamoDB an attempt timeout) from
//! [`wspush_contract::timeouts`], so a stalled dependency ends in a clear error well inside the
//! function's own timeout instead of Lambda killing the invocation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use wspush_contract::{http_pool, timeouts};

use crate::access::{SubscribeAccess, SubscribeHook, SubscribePolicy};
use crate::auth::jwks::KeySetError;
use crate::auth::{ProviderKeys, TokenKeys};
use crate::config::{AccessSettings, Config, PushClient, SecretSource};
use crate::dead_letters::{DeadLetters, SqsDeadLetters};
use crate::deps::Deps;
use crate::event_kind::EventKind;
use crate::push::{Endpoint, ManagementApiPusher, Pusher, SignedHttpPusher};
use crate::push_queue::{PushQueue, SqsPushQueue};
use crate::store::DynamoStore;

/// A failure while starting up; the Lambda reports it as an init error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not read JWT secret {id} from Secrets Manager: {message}")]
    Secret { id: String, message: String },
    #[error("JWT secret {0} has no SecretString")]
    EmptySecret(String),
    #[error("could not load the identity provider's keys: {0}")]
    ProviderKeys(#[from] KeySetError),
}

/// The HTTPS client every SDK client of one [`SdkConfig`] uses.
///
/// - rustls on ring: the SDK's default client brings aws-lc-rs, which adds megabytes to the
///   Lambda artifact for no gain here (the endpoints are AWS's, TLS 1.2/1.3 with the usual
///   suites); one TLS stack, one hyper version.
/// - The pool is bounded and reused: at most [`http_pool::MAX_IDLE_PER_HOST`] idle connections
///   per host, closed after [`http_pool::IDLE_TIMEOUT_SECS`]. Connections in use are bounded by
///   the callers (push concurrency; one DynamoDB call at a time per handler, a few while
///   removing a connection).
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(Duration::from_secs(http_pool::IDLE_TIMEOUT_SECS))
        .pool_max_idle_per_host(http_pool::MAX_IDLE_PER_HOST)
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Timeouts of one client: `operation` bounds the whole call with its retries, `attempt` one
/// try. The connect timeout is the same for every client, so they share one connector (the
/// pool is keyed by connector settings).
fn timeout_config(operation_ms: u64, attempt_ms: u64) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(timeouts::CONNECT_MS))
        .operation_timeout(Duration::from_millis(operation_ms))
        .operation_attempt_timeout(Duration::from_millis(attempt_ms))
        .build()
}

/// The SDK configuration of the deployed Lambda: region and credentials from the environment
/// Lambda sets, the shared [`http_client`], and a connect timeout for every client.
pub async fn lambda_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(timeouts::CONNECT_MS))
                .build(),
        )
        .load()
        .await
}

/// The static key of [`local_sdk_config`]: the local gateway verifies the runtime's
/// signatures with it, as AWS verifies them with the function role's keys.
pub const LOCAL_ACCESS_KEY_ID: &str = "local";
/// The secret of [`LOCAL_ACCESS_KEY_ID`].
pub const LOCAL_SECRET_ACCESS_KEY: &str = "local";

/// An SDK configuration for local endpoints (the local gateway, DynamoDB Local, tests): fixed
/// region and dummy static credentials. Deliberately not `aws_config::load_defaults`: that
/// reads profiles and the environment (an `AWS_ENDPOINT_URL` meant for the CLI would redirect
/// every client) and may ask instance metadata for credentials. The SDK still signs requests,
/// so some credentials are needed; the local gateway checks the signatures on `@connections`.
pub fn local_sdk_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            LOCAL_ACCESS_KEY_ID,
            LOCAL_SECRET_ACCESS_KEY,
            None,
            None,
            "wspush-local",
        )))
        .http_client(http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(timeouts::CONNECT_MS))
                .build(),
        )
        .build()
}

/// DynamoDB's client settings on top of `sdk`: operation and attempt timeouts; the SDK's
/// standard retries stay on inside the operation timeout.
fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(timeout_config(
        timeouts::DYNAMODB_OPERATION_MS,
        timeouts::DYNAMODB_ATTEMPT_MS,
    ))
}

/// A DynamoDB client for `endpoint` (e.g. DynamoDB Local).
pub fn dynamodb_client(sdk: &SdkConfig, endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk).endpoint_url(endpoint).build())
}

/// An `@connections` client for `endpoint` without SDK retries: one attempt per call, bounded
/// by [`timeouts::PUSH_ATTEMPT_MS`] (operation and attempt are the same try).
pub fn management_client(sdk: &SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeout_config(
            timeouts::PUSH_ATTEMPT_MS,
            timeouts::PUSH_ATTEMPT_MS,
        ))
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

/// The pusher `client` names, sending to `endpoint` with `sdk`'s region and credentials.
pub fn pusher(sdk: &SdkConfig, endpoint: &str, client: PushClient) -> Arc<dyn Pusher> {
    match client {
        PushClient::Sdk => Arc::new(ManagementApiPusher::new(management_client(sdk, endpoint))),
        PushClient::SignedHttp => {
            let region = sdk.region().map_or_else(String::new, |r| r.to_string());
            Arc::new(SignedHttpPusher::new(
                Endpoint {
                    base_url: endpoint.to_string(),
                    region,
                },
                sdk.credentials_provider(),
            ))
        }
    }
}

/// The dead-letter sender for `routes` (source queue ARN to dead-letter queue URL), signing
/// with `sdk`'s region and credentials; `None` without routes.
pub fn dead_letters(
    sdk: &SdkConfig,
    routes: BTreeMap<String, String>,
) -> Option<Arc<dyn DeadLetters>> {
    if routes.is_empty() {
        return None;
    }
    let region = sdk.region().map_or_else(String::new, |r| r.to_string());
    Some(Arc::new(SqsDeadLetters::new(
        routes,
        region,
        sdk.credentials_provider(),
    )))
}

/// The push queue `PUSH_QUEUE_URL` names, signing with `sdk`'s credentials; none when unset.
pub fn push_queue(sdk: &SdkConfig, queue_url: Option<String>) -> Option<Arc<dyn PushQueue>> {
    let region = sdk.region().map_or_else(String::new, |r| r.to_string());
    let queue = SqsPushQueue::new(queue_url?, region, sdk.credentials_provider());
    Some(Arc::new(queue))
}

async fn jwt_secret(sdk: &SdkConfig, source: &SecretSource) -> Result<String, StartupError> {
    let id = match source {
        SecretSource::Inline(secret) => return Ok(secret.clone()),
        SecretSource::SecretsManager(id) => id,
    };
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(timeout_config(
            timeouts::SECRET_FETCH_MS,
            timeouts::SECRET_FETCH_MS,
        ))
        .build();
    let out = aws_sdk_secretsmanager::Client::from_conf(config)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| StartupError::Secret {
            id: id.clone(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    out.secret_string
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StartupError::EmptySecret(id.clone()))
}

/// The keys this function verifies or mints tokens with: the secret, and the identity
/// provider's keys (fetched now, during init, so the first `$connect` costs no round trip)
/// when the function decides `$connect`. `None` without either.
pub async fn token_keys(
    sdk: &SdkConfig,
    config: &Config,
    verifies: bool,
) -> Result<Option<TokenKeys>, StartupError> {
    let secret = match &config.jwt_secret {
        Some(source) => Some(jwt_secret(sdk, source).await?),
        None => None,
    };
    let provider = match (verifies, config.jwt.key_source()) {
        (true, Some(source)) => Some(Arc::new(ProviderKeys::fetch(&source).await?)),
        _ => None,
    };
    Ok(config
        .jwt
        .token_keys(secret.as_deref().map(str::as_bytes), provider))
}

/// The subscribe decision: the policy (none: only the hook may allow), the hook signing its
/// `Invoke` with `sdk`'s credentials, and the cap.
pub fn subscribe_access(sdk: &SdkConfig, settings: &AccessSettings) -> SubscribeAccess {
    let policy = settings
        .policy
        .clone()
        .unwrap_or_else(SubscribePolicy::deny_all);
    let hook = settings
        .hook
        .clone()
        .map(|target| SubscribeHook::new(target, sdk.credentials_provider()));
    SubscribeAccess::new(policy, hook, settings.max_subscriptions_per_connection)
}

/// Builds every dependency the configuration asks for.
pub async fn deps_from_config(sdk: &SdkConfig, config: &Config) -> Result<Deps, StartupError> {
    let verifies = config.event_kinds.contains(EventKind::Authorizer);
    let tokens = token_keys(sdk, config, verifies).await?;
    if config.event_kinds.contains(EventKind::WebSocket) && config.access.policy.is_none() {
        tracing::warn!("SUBSCRIBE_POLICY is not set: no subscription is allowed unless the subscribe hook allows it");
    }
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk).build()),
        &config.table_name,
        &config.index_name,
    )
    .with_index_shards(config.index_shards);
    let pusher = config
        .management_endpoint
        .as_deref()
        .map(|endpoint| pusher(sdk, endpoint, config.push_client));
    Ok(Deps {
        store: Arc::new(store),
        pusher,
        dead_letters: dead_letters(sdk, config.dead_letter_queues.clone()),
        tokens,
        access: Arc::new(subscribe_access(sdk, &config.access)),
        token_leeway_secs: config.jwt.leeway_secs,
        record_ttl: config.record_ttl,
        push: config.push.clone(),
        push_queue: push_queue(sdk, config.push_queue_url.clone()),
        plan: config.plan,
        history: config.history,
        test_tokens_enabled: config.test_tokens_enabled,
    })
}
