//! The WebSocket routes: `$connect`, `$disconnect`, `subscribe`, `unsubscribe`, `ping`,
//! `$default`.
//!
//! Each two-way route answers with a route response body (`Subscribed`, `Unsubscribed`, `Pong`,
//! `Error`): API Gateway forwards it to the client as a frame, so clients can tell success from
//! failure. Errors from bad frames never close the connection.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::SEC_WEBSOCKET_PROTOCOL;
use aws_lambda_events::http::{self, HeaderValue};
use serde_json::Value;
use wspush_contract::routes;

use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::frames::{parse_client_frame, ClientAction, Reply};
use crate::store::ConnectionRecord;

/// Handles one WebSocket route invocation.
pub async fn handle(
    deps: &Deps,
    request: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let context = &request.request_context;
    let connection_id = context
        .connection_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            HandlerError::InvalidEvent("requestContext.connectionId is missing".into())
        })?;
    let route_key = context.route_key.as_deref().unwrap_or(routes::DEFAULT);
    match route_key {
        routes::CONNECT => connect(deps, &request, connection_id).await,
        routes::DISCONNECT => disconnect(deps, &connection_id).await,
        _ => {
            let reply = message(deps, route_key, request.body.as_deref(), &connection_id).await;
            Ok(response(200, Some(reply.to_json())))
        }
    }
}

fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(Body::Text);
    response
}

/// The user id the authorizer put in the request context (`userId`, else `principalId`).
fn authorized_user(request: &ApiGatewayWebsocketProxyRequest) -> Option<String> {
    let authorizer = &request.request_context.authorizer;
    ["userId", "principalId"].iter().find_map(|key| {
        authorizer
            .other
            .get(*key)
            .or_else(|| authorizer.fields.get(*key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    })
}

async fn connect(
    deps: &Deps,
    request: &ApiGatewayWebsocketProxyRequest,
    connection_id: String,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let Some(user_id) = authorized_user(request) else {
        // Only reachable when the API has no authorizer on $connect: refuse rather than store
        // a connection nobody can address.
        tracing::warn!(%connection_id, "$connect without authorizer context refused");
        return Ok(response(401, Some("Unauthorized".into())));
    };
    let now_secs = now();
    let context = &request.request_context;
    let record = ConnectionRecord {
        connection_id,
        user_id,
        connected_at_ms: if context.connected_at > 0 {
            context.connected_at
        } else {
            now_secs * 1000
        },
        ip_address: context.identity.source_ip.clone(),
        expires_at: now_secs + deps.record_ttl.as_secs() as i64,
    };
    deps.store.put_connection(&record).await?;
    tracing::info!(connection_id = %record.connection_id, user_id = %record.user_id, "connected");
    let mut answer = response(200, None);
    if offers_subprotocol(request) {
        // API Gateway selects a subprotocol only when `$connect` returns it; a client that
        // offered one and gets none back (every browser, wscat -s) aborts the handshake.
        answer.headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(routes::SUBPROTOCOL),
        );
    }
    Ok(answer)
}

/// Whether the client offered the `websocket` subprotocol (`Sec-WebSocket-Protocol` is a
/// comma-separated list, possibly over several header lines).
fn offers_subprotocol(request: &ApiGatewayWebsocketProxyRequest) -> bool {
    let offered = |headers: &http::HeaderMap| {
        headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == routes::SUBPROTOCOL)
    };
    offered(&request.headers) || offered(&request.multi_value_headers)
}

async fn disconnect(
    deps: &Deps,
    connection_id: &str,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let removal = deps.store.delete_connection(connection_id).await?;
    if removal.is_complete() {
        tracing::info!(%connection_id, deleted = removal.deleted, "disconnected");
    } else {
        // Not a failure (TTL removes the rest), but the records outlive their connection until
        // then, and this count is the only trace of them.
        tracing::warn!(
            %connection_id,
            deleted = removal.deleted,
            left = removal.left,
            read_all = removal.read_all,
            "disconnected; records left to TTL (more than `left` unless read_all)"
        );
    }
    Ok(response(200, None))
}

/// Runs a client message and builds the reply; store faults become an `Error` reply too, so
/// the client hears about them and the connection stays up.
async fn message(deps: &Deps, route_key: &str, body: Option<&str>, connection_id: &str) -> Reply {
    let action = match parse_client_frame(route_key, body) {
        Ok(action) => action,
        Err(e) => {
            return Reply::Error {
                message: e.to_string(),
            }
        }
    };
    let expires_at = now() + deps.record_ttl.as_secs() as i64;
    let (saved, reply) = match action {
        ClientAction::Ping => return Reply::Pong,
        ClientAction::Subscribe { entity_id } => (
            deps.store
                .put_subscription(connection_id, &entity_id, expires_at)
                .await,
            Reply::Subscribed { entity_id },
        ),
        ClientAction::Unsubscribe { entity_id } => (
            deps.store
                .delete_subscription(connection_id, &entity_id)
                .await,
            Reply::Unsubscribed { entity_id },
        ),
    };
    match saved {
        Ok(()) => reply,
        Err(e) => {
            tracing::error!(%connection_id, error = %e, "store failed during {route_key}");
            Reply::Error {
                message: format!("{route_key} could not be saved, please retry"),
            }
        }
    }
}
