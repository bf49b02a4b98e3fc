//! The WebSocket upgrade itself: checking that a request asks for one (step 1 of the handshake)
//! and completing it once the connection is admitted (step 5).
//!
//! The upgrade is done here rather than by axum's extractor because the socket needs what
//! axum does not expose: raw frames (to split `@connections` messages over 32 KB into frames as
//! API Gateway does) and small per-socket buffers.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::socket;
use crate::config::Limits;
use crate::error::GatewayError;
use crate::registry::ConnectionInfo;
use crate::state::AppState;

/// Bytes read from the socket at a time, and the read buffer each socket holds while idle.
/// tungstenite's default (128 KiB) would be most of an idle connection's memory. Client frames are
/// at most 32 KB and usually under 200 bytes (`subscribe`, `ping`); a larger frame grows the
/// buffer to its size while it is read.
const READ_BUFFER_BYTES: usize = 1024;

/// The socket's settings: API Gateway's frame and message limits on what the client sends,
/// small buffers, and every message written at once (the mailbox is the buffer).
pub fn codec_config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(limits.max_frame_bytes))
        .max_message_size(Some(limits.max_message_bytes))
}

/// Step 1: the client's `Sec-WebSocket-Key`, when the request is a WebSocket upgrade.
pub fn client_key(headers: &HeaderMap) -> Result<String, GatewayError> {
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

/// Step 5: the socket's task. Once hyper hands over the connection, the codec wraps it and
/// [`socket::run`] owns it until `$disconnect`.
pub fn start_socket(
    state: &AppState,
    request: &mut Request,
    info: Arc<ConnectionInfo>,
    domain: String,
) {
    let upgrading = hyper::upgrade::on(request);
    let state = state.clone();
    tokio::spawn(async move {
        let _guard = state.registry().task_guard();
        match upgrading.await {
            Ok(upgraded) => {
                let config = codec_config(&state.config().limits);
                let stream = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                let (writer, reader) = stream.split();
                socket::run(writer, reader, state, info, domain).await;
            }
            Err(e) => {
                // `$connect` already ran: the records it wrote must go, as after any close.
                tracing::warn!(connection_id = %info.connection_id, error = %e, "upgrade failed");
                socket::disconnect(&state, &info, &domain, 1006, "upgrade failed").await;
            }
        }
    });
}

/// Step 5: the 101 answer, selecting exactly the subprotocol `$connect` returned, as API
/// Gateway forwards it.
pub fn switching_protocols(
    key: &str,
    subprotocol: Option<String>,
) -> Result<Response, GatewayError> {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    out.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|e| GatewayError::Internal(e.to_string()))?,
    );
    if let Some(protocol) = subprotocol {
        if let Ok(value) = HeaderValue::from_str(&protocol) {
            out.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    Ok(response)
}
