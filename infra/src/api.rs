//! The API Gateway WebSocket API itself, declared first and on its own.
//!
//! Why apart from its routes: the event consumer's role and `MANAGEMENT_ENDPOINT` need the API
//! (its id and execution ARN), and the routes need the functions. [`declare`] creates only the
//! API and derives from it and the configured stage name everything later parts need; the
//! routes, authorizer, deployment and stage follow in [`crate::routes`], once the functions
//! exist. Data flows one way: this module imports no other part.

use pulumi_gestalt_rust::{Context, Output};
use wspush_contract::routes;

use crate::aws::apigatewayv2::api::{self, ApiArgs};
use crate::config::StackConfig;

/// What the functions need from the API before its routes exist.
pub struct WebSocketApi {
    pub id: Output<String>,
    /// `arn:aws:execute-api:{region}:{account}:{api id}`.
    pub execution_arn: Output<String>,
    /// `https://{api id}.execute-api.{region}.amazonaws.com/{stage}`, the runtime's
    /// `MANAGEMENT_ENDPOINT`.
    pub management_endpoint: Output<String>,
    /// The only resources `execute-api:ManageConnections` is granted on: POST (a push, an
    /// error frame) to and DELETE (closing) of any connection of this API's stage.
    pub manage_connections_arns: Output<Vec<String>>,
}

/// The `@connections` calls the functions make: POST to send a frame, DELETE to close a
/// connection (its token expired). Not GET: no function reads a connection's details.
///
/// The resource is the execute-api ARN of a REST method, with the HTTP verb in it. AWS, "Control
/// access to WebSocket APIs with IAM authorization": "The @connections API uses the same ARN
/// format as REST APIs: arn:aws:execute-api:region:account-id:api-id/stage-name/POST/@connections";
/// "Control access for invoking an API": `arn:aws:execute-api:region:account-id:api-id/stage/
/// METHOD_HTTP_VERB/Resource-path`; "Use @connections commands in your backend service": `POST`
/// and `DELETE` on `/{stage}/@connections/{connection_id}`. So a grant on `.../POST/@connections/*`
/// alone would deny the DELETE.
pub const CONNECTION_METHODS: [&str; 2] = ["POST", "DELETE"];

/// Declares the API; returns what the functions and the routes need from it.
pub fn declare(ctx: &Context, config: &StackConfig, prefix: &str) -> WebSocketApi {
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
    let manage_connections_arns = created.execution_arn.map(move |arn| {
        CONNECTION_METHODS
            .iter()
            .map(|method| format!("{arn}/{stage}/{method}/@connections/*"))
            .collect()
    });
    WebSocketApi {
        id: created.id,
        execution_arn: created.execution_arn,
        management_endpoint,
        manage_connections_arns,
    }
}
