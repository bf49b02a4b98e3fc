//! Building the AWS-backed dependencies once per cold start.
//!
//! The only module that knows which SDK clients exist: it reads the JWT secret from Secrets
//! Manager, points the Management API client at the configured endpoint (AWS or the local
//! gateway), and turns the SDK's own retries off for pushes, which the fan-out retries itself.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::auth::TokenKeys;
use crate::config::{Config, SecretSource};
use crate::deps::Deps;
use crate::push::ManagementApiPusher;
use crate::store::DynamoStore;

/// A failure while starting up; the Lambda reports it as an init error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not read JWT secret {id} from Secrets Manager: {message}")]
    Secret { id: String, message: String },
    #[error("JWT secret {0} has no SecretString")]
    EmptySecret(String),
}

/// An SDK configuration for local endpoints (the local gateway, DynamoDB Local, tests): fixed
/// region and dummy static credentials. Deliberately not `aws_config::load_defaults`: that
/// reads profiles and the environment (an `AWS_ENDPOINT_URL` meant for the CLI would redirect
/// every client) and may ask instance metadata for credentials. The SDK still signs requests,
/// so some credentials are needed; nothing local checks them.
pub fn local_sdk_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "wspush-local",
        )))
        .build()
}

/// A DynamoDB client for `endpoint` (e.g. DynamoDB Local).
pub fn dynamodb_client(sdk: &SdkConfig, endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An `@connections` client for `endpoint` without SDK retries.
pub fn management_client(sdk: &SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

async fn jwt_secret(sdk: &SdkConfig, source: &SecretSource) -> Result<String, StartupError> {
    let id = match source {
        SecretSource::Inline(secret) => return Ok(secret.clone()),
        SecretSource::SecretsManager(id) => id,
    };
    let out = aws_sdk_secretsmanager::Client::new(sdk)
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

/// Builds every dependency the configuration asks for.
pub async fn deps_from_config(sdk: &SdkConfig, config: &Config) -> Result<Deps, StartupError> {
    let tokens = match &config.jwt_secret {
        Some(source) => Some(TokenKeys::new(
            jwt_secret(sdk, source).await?.as_bytes(),
            config.jwt.clone(),
        )),
        None => None,
    };
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &config.table_name,
        &config.index_name,
    );
    let pusher = config.management_endpoint.as_deref().map(|endpoint| {
        Arc::new(ManagementApiPusher::new(management_client(sdk, endpoint))) as Arc<_>
    });
    Ok(Deps {
        store: Arc::new(store),
        pusher,
        tokens,
        record_ttl: config.record_ttl,
        push: config.push.clone(),
        test_tokens_enabled: config.test_tokens_enabled,
    })
}
