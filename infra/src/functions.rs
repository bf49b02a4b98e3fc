//! The Lambda functions, all from the one `bootstrap` artifact.
//!
//! The runtime dispatches on the shape of each event, so the same zip can serve any split. We
//! split by the permissions each job needs, because a role is per function:
//!
//! | function | serves | may |
//! |---|---|---|
//! | authorizer | the `$connect` REQUEST authorizer | read the JWT secret |
//! | connection | every route of `wspush_contract::routes::ALL` | Put/Delete/Update/Get/BatchWrite/Query items of the table (connections, subscriptions and their count, reading streams' history), POST to and DELETE `@connections` (replies, replays; a frame from a connection whose token expired is answered and the connection closed), invoke the `SubscribeAuthorizer` function when one is set |
//! | events | the two SQS queues fed by EventBridge | Query the index, Query + BatchWrite the table (410 cleanup), Get/Put/Update/Delete items of the table (each event's place in its stream, written in one transaction), POST to and DELETE `@connections` (a push to a connection whose token expired closes it instead), receive/delete on its two queues, send to their two dead-letter queues, send push batches to the push queue (an audience above `PushPlanThreshold`) |
//! | pusher | the push queue | Query + BatchWrite the table (410 cleanup; Query also reads a frame from its stream's history), POST to and DELETE `@connections`, receive/delete on the push queue, send to its dead-letter queue |
//! | `CreateTestJwt` | direct invocation, minting test tokens | read the JWT secret |
//!
//! Each function is also told which event kinds it serves (`EVENT_KINDS`, from
//! `wspush_contract::event_kinds`), so the runtime refuses any other shape: whoever may invoke
//! one function cannot make it do another's job. Each gets only the variables it reads: the
//! authorizer how to verify a token and the subscribe policy (which claims to pass on); the
//! routes the policy, the hook and the cap; the routes, the event consumer and the pushers the
//! token leeway (a connection ends with its token), the history settings (the consumer writes
//! streams, the routes and the pushers read them) and the index shards (every function that
//! writes or reads subscriptions must spread them over the same keys). Timeouts come from
//! `wspush_contract::timeouts`.
//!
//! Every function also gets its own log group (with retention) and may write only there, and
//! X-Ray tracing, whose two write actions AWS does not scope to resources (`Resource: "*"` is
//! the only form IAM accepts for them). Takes the table, the API, the queues and the token
//! signers from the parts before it; returns what the routes and the event pipeline need.

use std::collections::HashMap;

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};
use wspush_contract::{env, event_kinds, routes, timeouts};

use crate::api::WebSocketApi;
use crate::aws::cloudwatch::log_group::{self, LogGroupArgs};
use crate::aws::iam::role::{self, RoleArgs};
use crate::aws::iam::role_policy::{self, RolePolicyArgs};
use crate::aws::lambda::function::{self as lambda_function, FunctionArgs};
use crate::aws::types::lambda::{
    FunctionEnvironment, FunctionLoggingConfig, FunctionTracingConfig,
};
use crate::config::{StackConfig, SubscribeAuthorizer};
use crate::identity::Identity;
use crate::out;
use crate::policy::{self, Statement};
use crate::queues::Queues;
use crate::table::Table;

mod environment;
mod permissions;

pub use permissions::actions;

/// Pulumi's property encoding of an archive: an object whose signature key holds the archive
/// signature (`resource.ArchiveSig` in the Pulumi SDKs). Gestalt 0.0.12 types archives as plain
/// strings, so the schema gives `code` a map shape and we send this encoding ourselves.
pub const ARCHIVE_SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
pub const ARCHIVE_SIG: &str = "0def7320c3a5731c473e5ecbe6d01bc7";

/// The runtime is a custom runtime binary named `bootstrap`.
pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";

/// What other parts need from a function.
#[derive(Clone)]
pub struct Function {
    pub name: Output<String>,
    pub arn: Output<String>,
    /// The URI API Gateway integrations and authorizers call.
    pub invoke_arn: Output<String>,
}

pub struct Functions {
    pub authorizer: Function,
    pub connection: Function,
    pub events: Function,
    pub pusher: Function,
    /// `None` when `DeployCreateTestJwt` is false.
    pub test_token: Option<Function>,
}

/// One function of the split: what differs between the functions.
struct Spec {
    /// Logical name prefix of its resources (`{part}-logs`, `{part}-role`, ...).
    part: &'static str,
    name: String,
    description: String,
    timeout_seconds: i32,
    memory_mb: i32,
    /// The event kinds the function serves ([`wspush_contract::event_kinds`]); the runtime
    /// refuses every other shape.
    event_kinds: &'static [&'static str],
    environment: Vec<(String, Output<String>)>,
    /// What its role may do besides writing its logs and traces.
    statements: Output<Vec<Statement>>,
}

/// One function per [`Spec`].
pub fn declare(
    ctx: &Context,
    config: &StackConfig,
    prefix: &str,
    table: &Table,
    api: &WebSocketApi,
    queues: &Queues,
    identity: &Identity,
) -> Functions {
    let inputs = Inputs {
        ctx,
        config,
        prefix,
        table,
        api,
        queues,
        identity,
        subscribe_authorizer_arn: subscribe_authorizer_arn(ctx, config, api),
    };
    Functions {
        authorizer: declare_function(ctx, config, inputs.authorizer()),
        connection: declare_function(ctx, config, inputs.connection()),
        events: declare_function(ctx, config, inputs.events()),
        pusher: declare_function(ctx, config, inputs.pusher()),
        test_token: config
            .deploy_test_jwt_function
            .then(|| declare_function(ctx, config, inputs.test_token())),
    }
}

/// The ARN of the `SubscribeAuthorizer` function, when one is set: as given, or built from its
/// name in the API's partition, region and account.
fn subscribe_authorizer_arn(
    ctx: &Context,
    config: &StackConfig,
    api: &WebSocketApi,
) -> Option<Output<String>> {
    Some(match config.subscriptions.authorizer.clone()? {
        SubscribeAuthorizer::Arn(arn) => ctx.new_output(&arn),
        SubscribeAuthorizer::Name(name) => api
            .execution_arn
            .map(move |api_arn| function_arn_beside(&api_arn, &name)),
    })
}

/// `arn:{partition}:lambda:{region}:{account}:function:{name}` for the partition, region and
/// account of `execution_arn` (`arn:{partition}:execute-api:{region}:{account}:{api id}`).
fn function_arn_beside(execution_arn: &str, name: &str) -> String {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let part = |at: usize| parts.get(at).copied().unwrap_or_default();
    format!(
        "arn:{}:lambda:{}:{}:function:{name}",
        part(1),
        part(3),
        part(4)
    )
}

/// What the functions are built from: the configuration and what the earlier parts returned.
struct Inputs<'a> {
    ctx: &'a Context,
    config: &'a StackConfig,
    prefix: &'a str,
    table: &'a Table,
    api: &'a WebSocketApi,
    queues: &'a Queues,
    identity: &'a Identity,
    subscribe_authorizer_arn: Option<Output<String>>,
}

/// One declaration per function.
impl Inputs<'_> {
    fn authorizer(&self) -> Spec {
        let mut environment = self.verification_env();
        environment.push((env::JWT_SECRET_ID, self.identity.secret_arn.clone()));
        environment.push((env::SUBSCRIBE_POLICY, self.subscribe_policy()));
        Spec {
            part: "authorizer",
            name: format!("{}-authorizer", self.prefix),
            description: "wspush: $connect REQUEST authorizer (JWT)".into(),
            timeout_seconds: ROUTE_TIMEOUT_SECONDS,
            memory_mb: self.config.memory_mb,
            event_kinds: &event_kinds::AUTHORIZER_FUNCTION,
            environment: self.common_env(environment),
            statements: self.read_secret(),
        }
    }

    fn connection(&self) -> Spec {
        Spec {
            part: "connection",
            name: format!("{}-connection", self.prefix),
            description: format!("wspush: WebSocket routes ({})", routes::ALL.join(", ")),
            timeout_seconds: ROUTE_TIMEOUT_SECONDS,
            memory_mb: self.config.memory_mb,
            event_kinds: &event_kinds::ROUTES_FUNCTION,
            environment: self.common_env(self.connection_env()),
            statements: self.connection_statements(),
        }
    }

    fn events(&self) -> Spec {
        Spec {
            part: "events",
            name: format!("{}-events", self.prefix),
            description: "wspush: EventBridge events from SQS, fanned out to @connections".into(),
            timeout_seconds: EVENTS_TIMEOUT_SECONDS,
            memory_mb: self.config.events_memory_mb,
            event_kinds: &event_kinds::EVENTS_FUNCTION,
            environment: self.common_env(self.events_env()),
            statements: self.events_statements(),
        }
    }

    /// Sized as the event consumer (`EventsMemoryMb`): both push, and CPU comes with memory.
    fn pusher(&self) -> Spec {
        Spec {
            part: "pusher",
            name: format!("{}-pusher", self.prefix),
            description: "wspush: push batches from the push queue, pushed to @connections".into(),
            timeout_seconds: PUSHER_TIMEOUT_SECONDS,
            memory_mb: self.config.events_memory_mb,
            event_kinds: &event_kinds::PUSHER_FUNCTION,
            environment: self.common_env(self.pusher_env()),
            statements: self.pusher_statements(),
        }
    }

    fn test_token(&self) -> Spec {
        // Minted tokens carry the issuer and audience the authorizer expects.
        let mut environment = self.issuer_env();
        environment.extend([
            (env::JWT_SECRET_ID, self.identity.secret_arn.clone()),
            (env::TEST_TOKENS_ENABLED, self.constant("true".into())),
        ]);
        Spec {
            part: "test-token",
            name: self.config.test_token_function_name.clone(),
            description:
                "wspush: mints test JWTs (aws lambda invoke --function-name CreateTestJwt)".into(),
            timeout_seconds: ROUTE_TIMEOUT_SECONDS,
            memory_mb: self.config.memory_mb,
            event_kinds: &event_kinds::TEST_TOKEN_FUNCTION,
            environment: self.common_env(environment),
            statements: self.read_secret(),
        }
    }
}

// The AWS schema takes timeouts as 32-bit integers; checked when the crate compiles.
const _: () = assert!(
    timeouts::ROUTE_FUNCTION_SECS <= 900
        && timeouts::EVENTS_FUNCTION_SECS <= 900
        && timeouts::PUSHER_FUNCTION_SECS <= 900
);

/// The authorizer's, the connection routes' and CreateTestJwt's timeout.
pub const ROUTE_TIMEOUT_SECONDS: i32 = timeouts::ROUTE_FUNCTION_SECS as i32;
/// The event consumer's timeout; the queues' visibility timeout is derived from it (in
/// `wspush_contract::event_queue`).
pub const EVENTS_TIMEOUT_SECONDS: i32 = timeouts::EVENTS_FUNCTION_SECS as i32;
/// The pushers' timeout; the push queue's visibility timeout is derived from it (in
/// `wspush_contract::push_queue`).
pub const PUSHER_TIMEOUT_SECONDS: i32 = timeouts::PUSHER_FUNCTION_SECS as i32;

/// Log group, role (with its inline policy) and function for one [`Spec`].
fn declare_function(ctx: &Context, config: &StackConfig, spec: Spec) -> Function {
    let part = spec.part;
    let log_group = log_group::create(
        ctx,
        &format!("{part}-logs"),
        LogGroupArgs::builder()
            .name(format!("/aws/lambda/{}", spec.name))
            .retention_in_days(config.log_retention_days)
            .build_struct(),
    );
    let role_arn = declare_role(ctx, part, &spec.name, spec.statements, &log_group.arn);
    let environment = environment(ctx, spec.environment, spec.event_kinds);
    let function = lambda_function::create(
        ctx,
        &format!("{part}-function"),
        FunctionArgs::builder()
            .name(spec.name)
            .description(spec.description)
            .role(role_arn)
            .runtime(RUNTIME)
            .handler(HANDLER)
            .architectures(vec![config.architecture.as_lambda().to_string()])
            .code(code(config))
            .memory_size(spec.memory_mb)
            .timeout(spec.timeout_seconds)
            .environment(environment)
            .tracing_config(
                FunctionTracingConfig::builder()
                    .mode("Active".to_string())
                    .build_struct(),
            )
            .logging_config(log_group.name.map(|group| {
                FunctionLoggingConfig::builder()
                    .log_format("Text".to_string())
                    .log_group(group)
                    .build_struct()
            }))
            .build_struct(),
    );
    Function {
        name: function.name,
        arn: function.arn,
        invoke_arn: function.invoke_arn,
    }
}

/// The function's own role, granted `statements` plus writing to its log group and X-Ray;
/// returns the role ARN, known once the policy is attached.
fn declare_role(
    ctx: &Context,
    part: &str,
    function_name: &str,
    statements: Output<Vec<Statement>>,
    log_group_arn: &Output<String>,
) -> Output<String> {
    let role = role::create(
        ctx,
        &format!("{part}-role"),
        RoleArgs::builder()
            .assume_role_policy(policy::lambda_assume_role_policy())
            .description(format!("Execution role of {function_name}"))
            // Deleting the role removes its inline policy too, so `pulumi destroy` succeeds in
            // whichever order the engine deletes the two (it knows no dependencies, see
            // docs/deploy.md).
            .force_detach_policies(true)
            .build_struct(),
    );
    let document = pulumi_combine!(statements, log_group_arn.clone()).map(
        |(mut statements, log_group_arn)| {
            statements.push(Statement::allow(
                &actions::LOGS,
                vec![format!("{log_group_arn}:*")],
            ));
            statements.push(Statement::allow(&actions::XRAY, vec!["*".to_string()]));
            policy::identity_policy(&statements)
        },
    );
    let inline_policy = role_policy::create(
        ctx,
        &format!("{part}-policy"),
        RolePolicyArgs::builder()
            .role(role.name.clone())
            .policy(document)
            .build_struct(),
    );
    // Taking the role ARN through the policy makes the function wait for its permissions
    // (gestalt cannot express `dependsOn`).
    pulumi_combine!(role.arn, inline_policy.id).map(|(arn, _)| arn)
}

/// The function's variables, with the event kinds it serves (`EVENT_KINDS`).
fn environment(
    ctx: &Context,
    mut variables: Vec<(String, Output<String>)>,
    event_kinds: &[&str],
) -> Output<FunctionEnvironment> {
    variables.push((
        env::EVENT_KINDS.to_string(),
        ctx.new_output(&event_kinds.join(",")),
    ));
    out::map(ctx, variables).map(|variables: HashMap<String, String>| {
        FunctionEnvironment::builder()
            .variables(variables)
            .build_struct()
    })
}

/// The `bootstrap` zip, in Pulumi's archive encoding.
fn code(config: &StackConfig) -> HashMap<String, String> {
    HashMap::from([
        (ARCHIVE_SIG_KEY.to_string(), ARCHIVE_SIG.to_string()),
        ("path".to_string(), config.lambda_artifact.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_named_beside_the_api_takes_its_partition_region_and_account() {
        assert_eq!(
            function_arn_beside(
                "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3",
                "may-subscribe:live"
            ),
            "arn:aws:lambda:eu-west-1:123456789012:function:may-subscribe:live"
        );
        assert_eq!(
            function_arn_beside(
                "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3",
                "hook"
            ),
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:hook"
        );
    }
}
