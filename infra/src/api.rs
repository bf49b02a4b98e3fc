//! The API Gateway WebSocket API: authorizer, routes, route responses, deployment and stage.
//!
//! Declared in two steps because of a cycle in the data: the event consumer's role and
//! `MANAGEMENT_ENDPOINT` need the API (its id and execution ARN), and the routes need the
//! functions. [`declare_api`] creates only the API and derives everything the functions need
//! from it and the configured stage name; [`declare_routes`] wires the functions in afterwards.
//!
//! The authorizer has no identity sources on purpose. API Gateway checks every configured
//! identity source before it calls a REQUEST authorizer and answers 401 on its own when one is
//! missing (CreateAuthorizer, `IdentitySource`: "For a REQUEST authorizer, this is optional ...
//! These parameters will be used to perform runtime validation"). The quick start named only
//! `Sec-WebSocket-Protocol`, so a client sending `?access_token=` alone never reached its
//! authorizer. With an empty list both ways reach the function, which decides; the price is that
//! authorizer results are not cached, which WebSocket APIs only do per `$connect` anyway.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use wspush_contract::routes;

use crate::aws::apigateway::account::{self, AccountArgs};
use crate::aws::apigatewayv2::{
    api::{self, ApiArgs},
    authorizer::{self, AuthorizerArgs},
    deployment::{self, DeploymentArgs},
    integration::{self, IntegrationArgs},
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

/// Fields of the access log line: one JSON object per request, with what identifies a client
/// and what went wrong ($context variables of WebSocket APIs).
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status","connectionId":"$context.connectionId","error":"$context.error.message","authorizerError":"$context.authorizer.error","integrationError":"$context.integration.error"}"#;

/// What the functions need from the API before its routes exist.
pub struct WebSocketApi {
    pub id: Output<String>,
    /// `arn:aws:execute-api:{region}:{account}:{api id}`.
    pub execution_arn: Output<String>,
    /// `https://{api id}.execute-api.{region}.amazonaws.com/{stage}`, the runtime's
    /// `MANAGEMENT_ENDPOINT`.
    pub management_endpoint: Output<String>,
    /// The only resource `execute-api:ManageConnections` is granted on: POST (push) to any
    /// connection of this API's stage.
    pub connections_arn: Output<String>,
}

/// The deployed stage.
pub struct Stage {
    pub name: Output<String>,
    /// `wss://{api id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub invoke_url: Output<String>,
}

pub fn declare_api(ctx: &Context, config: &StackConfig, prefix: &str) -> WebSocketApi {
    let created = api::create(
        ctx,
        "websocket-api",
        ApiArgs::builder()
            .name(prefix.to_string())
            .protocol_type("WEBSOCKET")
            .route_selection_expression(routes::SELECTION_EXPRESSION)
            .description("WebSocket push notifications (wspush)")
            .build_struct(),
    );
    let stage = config.stage_name.clone();
    // `api_endpoint` is `wss://{id}.execute-api.{region}.amazonaws.com`; the management API is the
    // same host over HTTPS with the stage as path.
    let management_endpoint = created.api_endpoint.map(move |endpoint| {
        let host = endpoint
            .strip_prefix("wss://")
            .unwrap_or(&endpoint)
            .to_string();
        format!("https://{host}/{stage}")
    });
    let stage = config.stage_name.clone();
    let connections_arn = created
        .execution_arn
        .map(move |arn| format!("{arn}/{stage}/POST/@connections/*"));
    WebSocketApi {
        id: created.id,
        execution_arn: created.execution_arn,
        management_endpoint,
        connections_arn,
    }
}

/// Routes, authorizer, deployment and stage.
pub fn declare_routes(
    ctx: &Context,
    config: &StackConfig,
    api: &WebSocketApi,
    functions: &Functions,
) -> Stage {
    let integration = integration::create(
        ctx,
        "connection-integration",
        IntegrationArgs::builder()
            .api_id(api.id.clone())
            .integration_type("AWS_PROXY")
            .integration_method("POST")
            .integration_uri(functions.connection.invoke_arn.clone())
            .build_struct(),
    );
    let authorizer = authorizer::create(
        ctx,
        "connect-authorizer",
        AuthorizerArgs::builder()
            .api_id(api.id.clone())
            .name("jwt-authorizer")
            .authorizer_type("REQUEST")
            .authorizer_uri(functions.authorizer.invoke_arn.clone())
            // Empty on purpose: see the module documentation.
            .identity_sources(Vec::<String>::new())
            .build_struct(),
    );
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
    // One trigger per route: its id, target, authorization and (for two-way routes) its route
    // response. Any change to a route changes the map, and the provider replaces the deployment,
    // so the stage never serves a stale snapshot of the routes. Gestalt sends no resource
    // dependencies, so this data flow is also what orders the deployment after the routes.
    let mut triggers = Vec::new();
    for route_key in routes::ALL {
        let two_way = routes::TWO_WAY.contains(&route_key);
        let logical = route_logical_name(route_key);
        let connect = route_key == routes::CONNECT;
        let args = RouteArgs::builder()
            .api_id(api.id.clone())
            .route_key(route_key)
            .target(target.clone())
            .authorization_type(if connect { "CUSTOM" } else { "NONE" })
            .maybe_authorizer_id(connect.then(|| authorizer.id.clone()))
            .maybe_route_response_selection_expression(two_way.then_some(routes::DEFAULT))
            .build_struct();
        let created = route::create(ctx, &format!("{logical}-route"), args);
        let mut description = pulumi_combine!(
            created.id.clone(),
            target.clone(),
            created.authorization_type.clone(),
            created.authorizer_id.clone()
        )
        .map(|(id, target, auth, authorizer)| {
            format!(
                "{id}|{target}|{}|{}",
                auth.unwrap_or_default(),
                authorizer.unwrap_or_default()
            )
        });
        if two_way {
            let response = route_response::create(
                ctx,
                &format!("{logical}-route-response"),
                RouteResponseArgs::builder()
                    .api_id(api.id.clone())
                    .route_id(created.id.clone())
                    .route_response_key(routes::DEFAULT)
                    .build_struct(),
            );
            description = pulumi_combine!(description, response.id)
                .map(|(route, response)| format!("{route}|response:{response}"));
        }
        triggers.push((route_key.to_string(), description));
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
            .deployment_id(deployment.id)
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

/// The account-level CloudWatch role of API Gateway in this region (`ManageApiGatewayAccount`).
///
/// API Gateway writes WebSocket access and execution logs with one role per account and region,
/// set in its account settings; a fresh account has none and refuses a stage with access logs.
/// This is a regional singleton: another stack (or a person) may manage it instead, which is what
/// `ManageApiGatewayAccount = false` is for. Returns the account setting's id.
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
