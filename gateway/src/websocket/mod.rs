//! API Gateway's WebSocket side: the `$connect` handshake, then the socket ([`socket`]).
//!
//! The order is API Gateway's, because clients observe it:
//! 1. The request must be a WebSocket upgrade (426 otherwise), its URL at most 4096 characters
//!    (414), and, when the account's new-connection quota is emulated, within it (429).
//! 2. Every identity source of the authorizer must be present, or 401 without invoking it.
//! 3. The REQUEST authorizer runs *before* the upgrade; a refusal is an HTTP 401 (or 403 for a
//!    deny policy, 500 for a failing or throttled authorizer) and no connection exists.
//! 4. The `$connect` route runs with the authorizer's context; a non-2xx answer refuses the
//!    handshake with that status.
//! 5. Only then the upgrade completes, selecting exactly the subprotocol `$connect` returned in
//!    its `Sec-WebSocket-Protocol` header, and none when it returned none: a client that
//!    offered one then aborts, exactly as against AWS.
//!
//! The upgrade is done here rather than by axum's extractor because the socket needs what
//! axum does not expose: raw frames (to split `@connections` messages over 32 KB into frames as
//! API Gateway does) and small per-socket buffers.

mod socket;

use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use wspush_contract::{limits, routes};

use crate::client::{Body, Handshake};
use crate::error::GatewayError;
use crate::integration;
use crate::registry::ConnectionInfo;
use crate::state::AppState;
use crate::{identity, ids};

/// `/` and `/{stage}`: both reach the same API, as the custom domain and the stage URL do.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/{stage}", get(staged))
}

async fn root(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    handshake(state, peer, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn staged(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if stage != state.config().stage {
        return GatewayError::Forbidden.into_response();
    }
    handshake(state, peer, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The client's `Sec-WebSocket-Key`, when the request is a WebSocket upgrade.
fn upgrade_key(headers: &HeaderMap) -> Result<String, GatewayError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(GatewayError::UpgradeRequired);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(GatewayError::Validation(
            "Sec-WebSocket-Version must be 13".into(),
        ));
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| GatewayError::Validation("Sec-WebSocket-Key is missing".into()))
}

async fn handshake(
    state: AppState,
    peer: SocketAddr,
    mut request: Request,
) -> Result<Response, GatewayError> {
    let key = upgrade_key(request.headers())?;
    let url_chars = request.uri().to_string().chars().count();
    if url_chars > limits::MAX_URL_CHARS {
        return Err(GatewayError::UriTooLong(url_chars));
    }
    if let Some(bucket) = state.connect_rate() {
        if !bucket.try_take() {
            return Err(GatewayError::TooManyConnections(
                state.config().connect_rate.unwrap_or_default(),
            ));
        }
    }
    let query = match Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return Err(GatewayError::Validation(format!(
                "query string: {}",
                e.body_text()
            )))
        }
    };
    let config = state.config();
    let headers = request.headers();
    let text_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let hello = Handshake {
        connection_id: ids::connection_id(),
        request_id: ids::request_id(),
        connected_at_ms: ids::now_ms(),
        source_ip: peer.ip().to_string(),
        user_agent: text_header(header::USER_AGENT),
        domain_name: text_header(header::HOST).unwrap_or_else(|| "127.0.0.1".into()),
        headers: Handshake::headers_from(headers),
        query,
    };

    if let Some(missing) = identity::first_missing(&config.identity_sources, &hello) {
        tracing::info!(?missing, "identity source missing; authorizer not invoked");
        return Err(GatewayError::Unauthorized);
    }
    let method_arn = config.method_arn(routes::CONNECT);
    let decision = state
        .functions()
        .authorizer
        .invoke(integration::authorizer_event(config, &hello))
        .await;
    let authorizer = integration::authorizer_decision(decision, &method_arn)?;

    let answer = state
        .functions()
        .routes
        .invoke(integration::connect_event(config, &hello, &authorizer))
        .await
        .map_err(|e| GatewayError::Internal(format!("$connect route failed: {e}")))?;
    let answer = integration::route_response(answer);
    if !(200..300).contains(&answer.status) {
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match answer.body {
            Some(Body::Text(text)) => text,
            _ => String::new(),
        };
        return Ok((status, body).into_response());
    }

    let info = Arc::new(ConnectionInfo {
        connection_id: hello.connection_id.clone(),
        connected_at_ms: hello.connected_at_ms,
        last_active_ms: AtomicI64::new(hello.connected_at_ms),
        source_ip: hello.source_ip.clone(),
        user_agent: hello.user_agent.clone(),
        authorizer,
    });
    tracing::info!(connection_id = %info.connection_id, request_id = %hello.request_id, "connected");
    let upgrading = hyper::upgrade::on(&mut request);
    let domain = hello.domain_name;
    let socket_state = state.clone();
    tokio::spawn(async move {
        let _guard = socket_state.registry().task_guard();
        match upgrading.await {
            Ok(upgraded) => {
                let config = socket::config(&socket_state.config().limits);
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                socket::run(socket, socket_state, info, domain).await;
            }
            Err(e) => {
                // `$connect` already ran: the records it wrote must go, as after any close.
                tracing::warn!(connection_id = %info.connection_id, error = %e, "upgrade failed");
                socket::disconnect(&socket_state, &info, &domain, 1006, "upgrade failed").await;
            }
        }
    });

    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    out.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|e| GatewayError::Internal(e.to_string()))?,
    );
    if let Some(protocol) = answer.subprotocol {
        // Exactly what `$connect` returned, as API Gateway forwards it.
        if let Ok(value) = HeaderValue::from_str(&protocol) {
            out.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    Ok(response)
}
