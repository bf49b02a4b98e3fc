//! Steps 2–4 of the handshake: whether a connection comes to exist.
//!
//! The identity sources, the REQUEST authorizer and the `$connect` route decide it before any
//! upgrade, as on AWS. None of it needs the HTTP request, only what API Gateway knows of it
//! ([`Handshake`]), so a socket driven over channels is admitted exactly as a real one: its
//! records are written by the same `$connect`.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use wspush_contract::routes;

use crate::client::{Body, Handshake};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::identity;
use crate::integration::{self, RouteResponse};
use crate::registry::ConnectionInfo;
use crate::state::AppState;

/// How a handshake the authorizer allowed ends.
pub enum Admission {
    /// `$connect` accepted: the connection exists and its socket may start.
    Admitted(Admitted),
    /// `$connect` answered non-2xx: the handshake gets that status and text body.
    Refused(Response),
}

/// An admitted connection.
pub struct Admitted {
    pub info: Arc<ConnectionInfo>,
    /// The `Sec-WebSocket-Protocol` `$connect` returned, to be selected exactly.
    pub subprotocol: Option<String>,
}

/// Steps 2–4: identity sources, the authorizer, `$connect`. Errors are the handshake's HTTP
/// refusals (401, 403, 500).
pub async fn admit(state: &AppState, hello: &Handshake) -> Result<Admission, GatewayError> {
    require_identity_sources(state.config(), hello)?;
    let authorizer = authorize(state, hello).await?;
    let answer = run_connect_route(state, hello, &authorizer).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Admission::Refused(connect_refusal(answer)));
    }
    let info = connection_info(hello, authorizer);
    tracing::info!(connection_id = %info.connection_id, request_id = %hello.request_id, "connected");
    Ok(Admission::Admitted(Admitted {
        info,
        subprotocol: answer.subprotocol,
    }))
}

/// Step 2: a missing identity source is 401 without invoking the authorizer.
fn require_identity_sources(config: &GatewayConfig, hello: &Handshake) -> Result<(), GatewayError> {
    if let Some(missing) = identity::first_missing(&config.identity_sources, hello) {
        tracing::info!(?missing, "identity source missing; authorizer not invoked");
        return Err(GatewayError::Unauthorized);
    }
    Ok(())
}

/// Step 3: the REQUEST authorizer's policy for `$connect`; its context when allowed.
async fn authorize(
    state: &AppState,
    hello: &Handshake,
) -> Result<Map<String, Value>, GatewayError> {
    let config = state.config();
    let method_arn = config.method_arn(routes::CONNECT);
    let decision = state
        .functions()
        .authorizer
        .invoke(integration::authorizer_event(config, hello))
        .await;
    integration::authorizer_decision(decision, &method_arn)
}

/// Step 4: the `$connect` route, with the authorizer's context.
async fn run_connect_route(
    state: &AppState,
    hello: &Handshake,
    authorizer: &Map<String, Value>,
) -> Result<RouteResponse, GatewayError> {
    let answer = state
        .functions()
        .routes
        .invoke(integration::connect_event(
            state.config(),
            hello,
            authorizer,
        ))
        .await
        .map_err(|e| GatewayError::Internal(format!("$connect route failed: {e}")))?;
    Ok(integration::route_response(answer))
}

/// A non-2xx `$connect` answer as the handshake's answer: its status and its text body.
fn connect_refusal(answer: RouteResponse) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match answer.body {
        Some(Body::Text(text)) => text,
        _ => String::new(),
    };
    (status, body).into_response()
}

/// The facts `@connections` reports and every route invocation carries.
fn connection_info(hello: &Handshake, authorizer: Map<String, Value>) -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        connection_id: hello.connection_id.clone(),
        connected_at_ms: hello.connected_at_ms,
        last_active_ms: AtomicI64::new(hello.connected_at_ms),
        source_ip: hello.source_ip.clone(),
        user_agent: hello.user_agent.clone(),
        authorizer,
    })
}
