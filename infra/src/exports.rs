//! The stack outputs (`pulumi stack output`), the last part: what clients and operators read
//! from a deployed stack. The names are part of the deploy guide.
//!
//! Takes what the earlier parts returned and declares nothing but the exports.

use pulumi_gestalt_rust::{Context, Output};

use crate::api::WebSocketApi;
use crate::config::StackConfig;
use crate::domain::Domain;
use crate::functions::Functions;
use crate::identity::Identity;
use crate::routes::Stage;
use crate::table::Table;

pub const WEBSOCKET_URI: &str = "WebsocketUri";
pub const WEBSOCKET_DOMAIN_NAME: &str = "WebSocketDomainName";
pub const CONNECTIONS_ENDPOINT: &str = "ConnectionsEndpoint";
pub const TABLE_NAME: &str = "TableName";
pub const TEST_TOKEN_FUNCTION_NAME: &str = "TestTokenFunctionName";
pub const ALARM_TOPIC_ARN: &str = "AlarmTopicArn";
/// The issuer the authorizer expects (`JwtIssuer`, or the user pool's).
pub const JWT_ISSUER: &str = "JwtIssuer";
/// The Cognito user pool `CreateUserPool` declares, and its app client (the `--client-id` of
/// `aws cognito-idp sign-up` and `initiate-auth`).
pub const USER_POOL_ID: &str = "UserPoolId";
pub const USER_POOL_CLIENT_ID: &str = "UserPoolClientId";
/// The value of [`WEBSOCKET_DOMAIN_NAME`] without a custom domain (as the quick start said).
pub const NOT_PROVIDED: &str = "Not Provided";
/// The value of [`TEST_TOKEN_FUNCTION_NAME`] when `DeployCreateTestJwt` is false.
pub const NOT_DEPLOYED: &str = "Not Deployed";
/// The value of [`USER_POOL_ID`] and [`USER_POOL_CLIENT_ID`] without `CreateUserPool`.
pub const NOT_CREATED: &str = "Not Created";
/// The value of [`JWT_ISSUER`] when no issuer is checked (the quick start's HS256 tokens).
pub const NOT_SET: &str = "Not Set";

/// What the exports are read from: the results of the parts before.
pub struct Stack<'a> {
    pub config: &'a StackConfig,
    pub table: &'a Table,
    pub api: &'a WebSocketApi,
    pub identity: &'a Identity,
    pub functions: &'a Functions,
    pub stage: &'a Stage,
    pub alarm_topic: &'a Output<String>,
    /// `None` without `DeployCustomDomain`.
    pub custom_domain: Option<Domain>,
}

/// Adds every stack output.
pub fn declare(ctx: &Context, stack: Stack<'_>) {
    let websocket_uri = match &stack.config.custom_domain {
        Some(domain) => ctx.new_output(&format!("wss://{}", domain.domain_name)),
        None => stack.stage.invoke_url.clone(),
    };
    let domain_name = match stack.custom_domain {
        Some(domain) => domain.domain_name,
        None => ctx.new_output(&NOT_PROVIDED.to_string()),
    };
    let test_token_function = match &stack.functions.test_token {
        Some(function) => function.name.clone(),
        None => ctx.new_output(&NOT_DEPLOYED.to_string()),
    };
    ctx.add_export(WEBSOCKET_URI, &websocket_uri);
    ctx.add_export(WEBSOCKET_DOMAIN_NAME, &domain_name);
    ctx.add_export(
        CONNECTIONS_ENDPOINT,
        &stack
            .api
            .management_endpoint
            .map(|e| format!("{e}/@connections")),
    );
    ctx.add_export(TABLE_NAME, &stack.table.name);
    ctx.add_export(TEST_TOKEN_FUNCTION_NAME, &test_token_function);
    ctx.add_export(ALARM_TOPIC_ARN, stack.alarm_topic);
    declare_identity(ctx, stack.identity);
}

/// The issuer, and the user pool's ids (or placeholders, so the outputs always exist).
fn declare_identity(ctx: &Context, identity: &Identity) {
    let or = |value: Option<&Output<String>>, placeholder: &str| {
        value
            .cloned()
            .unwrap_or_else(|| ctx.new_output(&placeholder.to_string()))
    };
    let pool = identity.user_pool.as_ref();
    ctx.add_export(JWT_ISSUER, &or(identity.issuer.as_ref(), NOT_SET));
    ctx.add_export(USER_POOL_ID, &or(pool.map(|p| &p.id), NOT_CREATED));
    ctx.add_export(
        USER_POOL_CLIENT_ID,
        &or(pool.map(|p| &p.client_id), NOT_CREATED),
    );
}
