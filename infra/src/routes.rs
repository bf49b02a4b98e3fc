//! What the WebSocket API serves: the `$connect` authorizer, the routes and their integration,
//! route responses, the deployment and the stage (with its access logs).
//!
//! Takes the API from [`crate::api`] and the functions from [`crate::functions`], and returns
//! the [`Stage`] the custom domain and the stack outputs need.
//!
//! Identity sources: exactly [`wspush_contract::authorizer::IDENTITY_SOURCES`]. API Gateway
//! answers 401 without invoking a REQUEST authorizer when any listed source is missing, and the
//! token may come in the query string *or* in `Sec-WebSocket-Protocol`, so neither can be
//! listed; `context.connectionId` is present on every handshake, so the authorizer always runs
//! and finds the token itself. docs/deploy.md gives the evidence for not leaving the list empty.
//!
//! Redeployment: a WebSocket stage serves a snapshot (deployment) of routes, integrations and
//! authorizers. The deployment's `triggers` hold every input that changes what the stage
//! serves, read back from the resources' outputs, so a change to any of them replaces the
//! deployment and the stage moves to the new one. Gestalt sends no resource dependencies, so
//! this data flow is also what orders the deployment after the routes.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use wspush_contract::{authorizer as authorizer_contract, routes};

use crate::api::WebSocketApi;
use crate::aws::apigateway::account::{self, AccountArgs};
use crate::aws::apigatewayv2::{
    authorizer::{self, AuthorizerArgs, AuthorizerResult},
    deployment::{self, DeploymentArgs},
    integration::{self, IntegrationArgs, IntegrationResult},
    route::{self, RouteArgs},
    route_response::{self, RouteResponseArgs},
    stage::{self, StageArgs},
};
use crate::aws::cloudwatch::log_group::{self, LogGroupArgs};
use crate::aws::iam::role::{self, RoleArgs};
use crate::aws::iam::role_policy::{self, RolePolicyArgs};
use crate::aws::lambda::permission::{self, PermissionArgs};
use crate::aws::types::apigatewayv2::{StageAccessLogSettings, StageDefaultRouteSettings};
use crate::config::StackConfig;
use crate::functions::{Function, Functions};
use crate::out;
use crate::policy::{self, Statement};

/// What API Gateway does with the CloudWatch role: the actions of the AWS managed policy
/// `AmazonAPIGatewayPushToCloudWatchLogs`, granted on this account's log groups in this region
/// instead of `*`.
pub const PUSH_TO_CLOUDWATCH_ACTIONS: [&str; 7] = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
];

/// Keys of the deployment's `triggers` besides the route keys.
pub mod trigger_keys {
    pub const INTEGRATION: &str = "integration";
    pub const AUTHORIZER: &str = "authorizer";
}

/// Fields of the access log line: one JSON object per request, with what identifies a client
/// and what went wrong ($context variables of WebSocket APIs).
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status","connectionId":"$context.connectionId","error":"$context.error.message","authorizerError":"$context.authorizer.error","integrationError":"$context.integration.error"}"#;

/// The deployed stage.
pub struct Stage {
    pub name: Output<String>,
    /// `wss://{api id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub invoke_url: Output<String>,
}

/// Authorizer, integration, routes, route responses, deployment and stage.
pub fn declare(
    ctx: &Context,
    config: &StackConfig,
    api: &WebSocketApi,
    functions: &Functions,
) -> Stage {
    let integration = declare_integration(ctx, api, &functions.connection);
    let authorizer = declare_authorizer(ctx, api, &functions.authorizer);
    allow_api_to_invoke(
        ctx,
        "connection-invoke-permission",
        &functions.connection,
        {
            let stage = config.stage_name.clone();
            api.execution_arn.map(move |arn| format!("{arn}/{stage}/*"))
        },
    );
    allow_api_to_invoke(
        ctx,
        "authorizer-invoke-permission",
        &functions.authorizer,
        api.execution_arn.map(|arn| format!("{arn}/authorizers/*")),
    );

    let target = integration.id.map(|id| format!("integrations/{id}"));
    let mut triggers = vec![
        (
            trigger_keys::INTEGRATION.to_string(),
            integration_trigger(&integration),
        ),
        (
            trigger_keys::AUTHORIZER.to_string(),
            authorizer_trigger(&authorizer),
        ),
    ];
    for route_key in routes::ALL {
        let trigger = declare_route(ctx, api, route_key, &target, &authorizer.id);
        triggers.push((route_key.to_string(), trigger));
    }
    let deployment = deployment::create(
        ctx,
        "websocket-deployment",
        DeploymentArgs::builder()
            .api_id(api.id.clone())
            .description("Routes of the WebSocket push API")
            .triggers(out::map(ctx, triggers))
            .build_struct(),
    );
    declare_stage(ctx, config, api, deployment.id)
}

/// The one `AWS_PROXY` integration every route targets: the connection-routes function.
fn declare_integration(
    ctx: &Context,
    api: &WebSocketApi,
    function: &Function,
) -> IntegrationResult {
    integration::create(
        ctx,
        "connection-integration",
        IntegrationArgs::builder()
            .api_id(api.id.clone())
            .integration_type("AWS_PROXY")
            .integration_method("POST")
            .integration_uri(function.invoke_arn.clone())
            .build_struct(),
    )
}

/// The `$connect` REQUEST authorizer, with the contract's identity sources.
fn declare_authorizer(ctx: &Context, api: &WebSocketApi, function: &Function) -> AuthorizerResult {
    authorizer::create(
        ctx,
        "connect-authorizer",
        AuthorizerArgs::builder()
            .api_id(api.id.clone())
            .name("jwt-authorizer")
            .authorizer_type("REQUEST")
            .authorizer_uri(function.invoke_arn.clone())
            .identity_sources(
                authorizer_contract::IDENTITY_SOURCES
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .build_struct(),
    )
}

/// What the stage serves of the integration: its id, type and the function it calls.
fn integration_trigger(integration: &IntegrationResult) -> Output<String> {
    pulumi_combine!(
        integration.id.clone(),
        integration.integration_type.clone(),
        integration.integration_uri.clone()
    )
    .map(|(id, kind, uri)| format!("{id}|{kind}|{}", uri.unwrap_or_default()))
}

/// What the stage serves of the authorizer: its id, type, function and identity sources.
fn authorizer_trigger(authorizer: &AuthorizerResult) -> Output<String> {
    pulumi_combine!(
        authorizer.id.clone(),
        authorizer.authorizer_type.clone(),
        authorizer.authorizer_uri.clone(),
        authorizer.identity_sources.clone()
    )
    .map(|(id, kind, uri, sources)| {
        format!(
            "{id}|{kind}|{}|{}",
            uri.unwrap_or_default(),
            sources.unwrap_or_default().join(",")
        )
    })
}

/// One route (and, for a two-way route, its `$default` route response); returns its trigger:
/// id, key, target, authorization, authorizer and route response.
fn declare_route(
    ctx: &Context,
    api: &WebSocketApi,
    route_key: &'static str,
    target: &Output<String>,
    authorizer_id: &Output<String>,
) -> Output<String> {
    let two_way = routes::TWO_WAY.contains(&route_key);
    let connect = route_key == routes::CONNECT;
    let logical = route_logical_name(route_key);
    let created = route::create(
        ctx,
        &format!("{logical}-route"),
        RouteArgs::builder()
            .api_id(api.id.clone())
            .route_key(route_key)
            .target(target.clone())
            .authorization_type(if connect { "CUSTOM" } else { "NONE" })
            .maybe_authorizer_id(connect.then(|| authorizer_id.clone()))
            .maybe_route_response_selection_expression(two_way.then_some(routes::DEFAULT))
            .build_struct(),
    );
    let description = pulumi_combine!(
        created.id.clone(),
        created.route_key.clone(),
        created.target.clone(),
        created.authorization_type.clone(),
        created.authorizer_id.clone()
    )
    .map(|(id, key, target, auth, authorizer)| {
        format!(
            "{id}|{key}|{}|{}|{}",
            target.unwrap_or_default(),
            auth.unwrap_or_default(),
            authorizer.unwrap_or_default()
        )
    });
    if !two_way {
        return description;
    }
    let response = route_response::create(
        ctx,
        &format!("{logical}-route-response"),
        RouteResponseArgs::builder()
            .api_id(api.id.clone())
            .route_id(created.id.clone())
            .route_response_key(routes::DEFAULT)
            .build_struct(),
    );
    pulumi_combine!(description, response.id, response.route_response_key)
        .map(|(route, id, key)| format!("{route}|response:{id}|{key}"))
}

/// The stage, serving `deployment_id`, with JSON access logs and default route throttling.
fn declare_stage(
    ctx: &Context,
    config: &StackConfig,
    api: &WebSocketApi,
    deployment_id: Output<String>,
) -> Stage {
    let access_logs = log_group::create(
        ctx,
        "api-access-logs",
        LogGroupArgs::builder()
            .name_prefix("/aws/apigateway/wspush-")
            .retention_in_days(config.log_retention_days)
            .build_struct(),
    );
    // The stage may only log once the region's API Gateway account has a CloudWatch role; taking
    // the log destination through the account setting orders the two.
    let access_log_arn = if config.manage_api_gateway_account {
        let account = declare_cloudwatch_role(ctx, api);
        pulumi_combine!(access_logs.arn, account).map(|(arn, _)| arn)
    } else {
        access_logs.arn
    };
    let stage = stage::create(
        ctx,
        "websocket-stage",
        StageArgs::builder()
            .api_id(api.id.clone())
            .name(config.stage_name.clone())
            .deployment_id(deployment_id)
            .access_log_settings(access_log_arn.map(|arn| {
                StageAccessLogSettings::builder()
                    .destination_arn(arn)
                    .format(ACCESS_LOG_FORMAT.to_string())
                    .build_struct()
            }))
            .default_route_settings(
                StageDefaultRouteSettings::builder()
                    .throttling_burst_limit(config.throttling_burst_limit)
                    .throttling_rate_limit(config.throttling_rate_limit)
                    .data_trace_enabled(false)
                    .detailed_metrics_enabled(false)
                    .build_struct(),
            )
            .build_struct(),
    );
    Stage {
        name: stage.name,
        invoke_url: stage.invoke_url,
    }
}

/// The account-level CloudWatch role of API Gateway in this region (`ManageApiGatewayAccount`,
/// off by default).
///
/// API Gateway writes WebSocket access and execution logs with one role per account and region,
/// set in its account settings; a fresh account has none and refuses a stage with access logs.
/// It is a regional singleton shared by every API in the region: declaring it replaces whatever
/// role is set, and the provider resets it on destroy, so it is only declared when asked for
/// (docs/deploy.md says how to check). Returns the account setting's id.
fn declare_cloudwatch_role(ctx: &Context, api: &WebSocketApi) -> Output<String> {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "apigateway.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string();
    let role = role::create(
        ctx,
        "apigateway-cloudwatch-role",
        RoleArgs::builder()
            .assume_role_policy(trust)
            .description("API Gateway writes WebSocket access and execution logs to CloudWatch")
            // As for the functions' roles: deletable before or after its inline policy.
            .force_detach_policies(true)
            .build_struct(),
    );
    // `arn:aws:execute-api:{region}:{account}:{api}` -> `arn:aws:logs:{region}:{account}:*`.
    let log_groups = api.execution_arn.map(|arn| {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, _, region, account, ..] => {
                format!("arn:{partition}:logs:{region}:{account}:*")
            }
            _ => format!("{arn}:unexpected-execution-arn"),
        }
    });
    let inline_policy = role_policy::create(
        ctx,
        "apigateway-cloudwatch-policy",
        RolePolicyArgs::builder()
            .role(role.name)
            .policy(log_groups.map(|resource| {
                policy::identity_policy(&[Statement::allow(
                    &PUSH_TO_CLOUDWATCH_ACTIONS,
                    vec![resource],
                )])
            }))
            .build_struct(),
    );
    let role_arn = pulumi_combine!(role.arn, inline_policy.id).map(|(arn, _)| arn);
    account::create(
        ctx,
        "apigateway-account",
        AccountArgs::builder()
            .cloudwatch_role_arn(role_arn)
            .build_struct(),
    )
    .id
}

/// Lets API Gateway invoke `function`, only from `source_arn` (this API's stage routes or its
/// authorizers).
fn allow_api_to_invoke(ctx: &Context, name: &str, function: &Function, source_arn: Output<String>) {
    permission::create(
        ctx,
        name,
        PermissionArgs::builder()
            .action("lambda:InvokeFunction")
            .function(function.name.clone())
            .principal("apigateway.amazonaws.com")
            .source_arn(source_arn)
            .build_struct(),
    );
}

/// Pulumi resource names cannot hold `$`: `$connect` becomes `connect`.
pub fn route_logical_name(route_key: &str) -> String {
    route_key.trim_start_matches('$').to_string()
}
