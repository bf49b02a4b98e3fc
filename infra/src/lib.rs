//! The Pulumi program (Rust, `pulumi_gestalt_rust`) that deploys the WebSocket push service.
//!
//! A tour, in the order [`program`] declares things; each part is a module whose `declare` (or
//! `connect`) takes what the earlier parts returned and returns what the later parts need.
//! Imports follow the same direction: a part imports only the parts before it (checked by
//! `tests/structure.rs`).
//!
//! - [`config`]: every `pulumi config` key, read and checked before anything is declared.
//! - [`table`]: the DynamoDB table (layout from `wspush_contract::table`).
//! - [`api`]: the WebSocket API alone, and what the functions need from it (the
//!   `@connections` endpoint and ARN), so the functions can be declared before the routes.
//! - [`queues`]: a queue and a dead-letter queue per EventBridge detail type, and the push
//!   queue with its own, so the functions' roles can name them.
//! - [`identity`]: who signs the tokens the authorizer accepts: the JWT secret, and with
//!   `CreateUserPool` a Cognito user pool and app client (the expected issuer and audience).
//! - [`functions`]: the Lambda functions built from the one `bootstrap`
//!   artifact, each with its own log group, least-privilege role and list of event kinds (see
//!   that module for the split: authorizer, connection routes, event consumer, pushers,
//!   `CreateTestJwt`).
//! - [`routes`]: authorizer, routes, route responses, deployment and stage.
//! - [`events`]: EventBridge rules -> the queues -> the event consumer.
//! - [`pushers`]: the push queue -> the pushers, as many at once as `PushRateLimit` allows.
//! - [`alarms`]: dead-letter queue alarms to an SNS topic.
//! - [`domain`]: the optional custom domain (ACM certificate, DNS validation, API mapping, alias).
//! - [`exports`]: the stack outputs.
//!
//! Helpers any part may use: [`policy`] (IAM policy documents as data), [`out`] (joining
//! outputs) and [`aws`] (the generated provider bindings). Everything Pulumi-specific goes
//! through [`aws`], [`out`] and [`config::engine`], so moving to another Pulumi SDK later stays a
//! local change.

pub mod alarms;
pub mod api;
pub mod aws;
pub mod config;
pub mod domain;
pub mod events;
pub mod exports;
pub mod functions;
pub mod identity;
pub mod out;
pub mod policy;
pub mod pushers;
pub mod queues;
pub mod routes;
pub mod table;

use anyhow::Result;
use pulumi_gestalt_rust::Context;

use crate::config::StackConfig;
use crate::config::engine::{EngineConfig, read_jwt_secret};

/// The whole deployment. Configuration is checked first: an error returns before any resource
/// is registered.
pub fn program(ctx: &Context) -> Result<()> {
    let config = StackConfig::read(&EngineConfig(ctx))?;
    let jwt_secret = read_jwt_secret(ctx)?;
    let prefix = format!("{}-{}", ctx.get_project(), ctx.get_stack());

    let table = table::declare(ctx, &config);
    let api = api::declare(ctx, &config, &prefix);
    let queues = queues::declare(ctx);
    let identity = identity::declare(ctx, &config, &prefix, jwt_secret);
    let functions = functions::declare(ctx, &config, &prefix, &table, &api, &queues, &identity);
    let stage = routes::declare(ctx, &config, &api, &functions);
    events::connect(ctx, &queues.events, &functions.events);
    pushers::connect(ctx, &config, &queues.push, &functions.pusher);
    let alarm_topic = alarms::declare(ctx, &config, &queues);
    let custom_domain = config
        .custom_domain
        .as_ref()
        .map(|domain| domain::declare(ctx, domain, &api, &stage));

    exports::declare(
        ctx,
        exports::Stack {
            config: &config,
            table: &table,
            api: &api,
            identity: &identity,
            functions: &functions,
            stage: &stage,
            alarm_topic: &alarm_topic,
            custom_domain,
        },
    );
    Ok(())
}
