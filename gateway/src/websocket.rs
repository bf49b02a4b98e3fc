//! API Gateway's WebSocket side: the `$connect` handshake, frames to routes, `$disconnect`.
//!
//! The order is API Gateway's, because clients observe it:
//! 1. The REQUEST authorizer runs *before* the upgrade; a refusal is an HTTP 401 (or 403 for a
//!    deny policy, 500 for a failing authorizer) and no connection exists, no record is written.
//! 2. The `$connect` route runs with the authorizer's context; a non-2xx answer refuses the
//!    handshake with that status.
//! 3. Only then the upgrade completes, selecting the `websocket` subprotocol when the client
//!    offers it (browsers and wscat abort otherwise).
//!
//! Each socket then belongs to one task that owns it whole, so nothing else touches the socket:
//! frames from the client go, in order, to a second task that runs the routes and sends their
//! route responses back; pushes and closes from `@connections` arrive through the registry's
//! channel. Every way out of the loop (client close, dropped TCP, oversize frame, idle or
//! lifetime limit, DELETE, shutdown) ends in the same place: off the registry, then `$disconnect`.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Duration, Instant};
use wspush_contract::routes;

use crate::apigw::{self, Body, Handshake};
use crate::error::GatewayError;
use crate::registry::{ConnectionInfo, Outbound};
use crate::AppState;

/// The subprotocol API Gateway clients offer alongside a token.
const SUBPROTOCOL: &str = "websocket";
/// How long a closing socket waits for the client's answering close frame.
const CLOSE_HANDSHAKE_WAIT: Duration = Duration::from_secs(1);

/// `/` and `/{stage}`: both reach the same API, as the custom domain and the stage URL do.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/{stage}", get(staged))
}

type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;
type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

async fn root(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: RawQuery,
    upgrade: Upgrade,
) -> Response {
    handshake(state, peer, headers, query, upgrade).await
}

async fn staged(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: RawQuery,
    upgrade: Upgrade,
) -> Response {
    if stage != state.config().stage {
        return GatewayError::Forbidden.into_response();
    }
    handshake(state, peer, headers, query, upgrade).await
}

async fn handshake(
    state: AppState,
    peer: SocketAddr,
    headers: HeaderMap,
    query: RawQuery,
    upgrade: Upgrade,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return GatewayError::UpgradeRequired.into_response();
    };
    let query = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return GatewayError::Validation(format!("query string: {}", e.body_text()))
                .into_response()
        }
    };
    let config = state.config();
    let text_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let hello = Handshake {
        connection_id: apigw::connection_id(),
        request_id: apigw::request_id(),
        connected_at_ms: apigw::now_ms(),
        source_ip: peer.ip().to_string(),
        user_agent: text_header(header::USER_AGENT),
        domain_name: text_header(header::HOST).unwrap_or_else(|| "127.0.0.1".into()),
        headers: Handshake::headers_from(&headers),
        query,
    };

    let method_arn = config.method_arn(routes::CONNECT);
    let decision = state
        .runtime()
        .handle(apigw::authorizer_event(config, &hello))
        .await;
    let authorizer = match apigw::authorizer_decision(decision, &method_arn) {
        Ok(authorizer) => authorizer,
        Err(refusal) => return refusal.into_response(),
    };

    match state
        .runtime()
        .handle(apigw::connect_event(config, &hello, &authorizer))
        .await
    {
        Ok(answer) => {
            let answer = apigw::route_response(&answer);
            if !(200..300).contains(&answer.status) {
                let status = StatusCode::from_u16(answer.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = match answer.body {
                    Some(Body::Text(text)) => text,
                    _ => String::new(),
                };
                return (status, body).into_response();
            }
        }
        Err(e) => {
            return GatewayError::Internal(format!("$connect route failed: {e}")).into_response()
        }
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
    let limits = &config.limits;
    let domain = hello.domain_name;
    let (failed_state, failed_info, failed_domain) = (state.clone(), info.clone(), domain.clone());
    upgrade
        .protocols([SUBPROTOCOL])
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        .on_failed_upgrade(move |e| {
            // `$connect` already ran: the records it wrote must go, as after any close.
            tracing::warn!(connection_id = %failed_info.connection_id, error = %e, "upgrade failed");
            tokio::spawn(async move {
                let _guard = failed_state.registry().task_guard();
                disconnect(&failed_state, &failed_info, &failed_domain, 1006, "upgrade failed")
                    .await;
            });
        })
        .on_upgrade(move |socket| run(socket, state, info, domain))
}

/// Why a socket ended, as `$disconnect` reports it.
struct Ending {
    code: u16,
    reason: String,
}

impl Ending {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// Owns one socket from upgrade to `$disconnect`.
async fn run(mut socket: WebSocket, state: AppState, info: Arc<ConnectionInfo>, domain: String) {
    let _guard = state.registry().task_guard();
    let (tx, mut outbound) = mpsc::unbounded_channel();
    state.registry().insert(info.clone(), tx.clone());
    let (inbound, messages) = mpsc::unbounded_channel();
    let router = tokio::spawn(route_messages(
        state.clone(),
        info.clone(),
        domain.clone(),
        messages,
        tx,
    ));

    let limits = state.config().limits.clone();
    let closes_at = Instant::now() + limits.max_connection;
    let mut last_active = Instant::now();
    let ending = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                None => break Ending::new(1006, "Connection closed abnormally"),
                Some(Ok(message)) => {
                    last_active = Instant::now();
                    info.touch(apigw::now_ms());
                    match message {
                        Message::Text(text) => {
                            let _ = inbound.send(Body::Text(text.to_string()));
                        }
                        Message::Binary(bytes) => {
                            let _ = inbound.send(Body::Binary(bytes.to_vec()));
                        }
                        // tungstenite answers pings itself.
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Close(frame) => {
                            // tungstenite queued the answering close frame; flushing sends it,
                            // so the client sees a clean close with its own code (browsers
                            // report 1006 when the server drops TCP without answering).
                            let _ = futures::SinkExt::flush(&mut socket).await;
                            break match frame {
                                Some(f) => Ending::new(f.code, f.reason.to_string()),
                                None => Ending::new(1005, ""),
                            }
                        }
                    }
                }
                Some(Err(e)) if is_too_big(&e) => {
                    let ending = Ending::new(1009, "Message too big");
                    close(&mut socket, &ending).await;
                    break ending;
                }
                Some(Err(e)) => break Ending::new(1006, e.to_string()),
            },
            command = outbound.recv() => match command {
                Some(Outbound::Frame(message)) => {
                    if let Err(e) = socket.send(message).await {
                        break Ending::new(1006, e.to_string());
                    }
                }
                Some(Outbound::Close { code, reason }) => {
                    let ending = Ending::new(code, reason);
                    close(&mut socket, &ending).await;
                    break ending;
                }
                None => break Ending::new(1006, "gateway dropped the connection"),
            },
            () = sleep_until(last_active + limits.idle_timeout) => {
                close(&mut socket, &Ending::new(1001, "Going away")).await;
                break Ending::new(1001, "Idle timeout");
            }
            () = sleep_until(closes_at) => {
                close(&mut socket, &Ending::new(1001, "Going away")).await;
                break Ending::new(1001, "Maximum connection duration exceeded");
            }
        }
    };

    state.registry().remove(&info.connection_id);
    // Frames already received are still routed before `$disconnect`, as their Lambda
    // invocations would be in flight in AWS.
    drop(inbound);
    let _ = router.await;
    disconnect(&state, &info, &domain, ending.code, &ending.reason).await;
}

/// Whether the socket failed on a frame or message over the configured limits.
fn is_too_big(error: &axum::Error) -> bool {
    error
        .source()
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(socket: &mut WebSocket, ending: &Ending) {
    let frame = CloseFrame {
        code: ending.code,
        reason: ending.reason.clone().into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = timeout(CLOSE_HANDSHAKE_WAIT, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Routes the client's frames one at a time and sends back the route responses of two-way
/// routes. A failing route gets API Gateway's `Internal server error` frame; the socket stays.
async fn route_messages(
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    mut messages: mpsc::UnboundedReceiver<Body>,
    tx: mpsc::UnboundedSender<Outbound>,
) {
    while let Some(body) = messages.recv().await {
        let route = apigw::select_route(&body);
        let event = apigw::message_event(state.config(), &info, &domain, route, &body);
        let reply = match state.runtime().handle(event).await {
            Ok(answer) if routes::TWO_WAY.contains(&route) => apigw::route_response(&answer).body,
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(connection_id = %info.connection_id, route, error = %e, "route failed");
                Some(Body::Text(
                    json!({
                        "message": "Internal server error",
                        "connectionId": info.connection_id,
                        "requestId": apigw::request_id(),
                    })
                    .to_string(),
                ))
            }
        };
        if let Some(reply) = reply {
            let _ = tx.send(Outbound::Frame(to_message(reply)));
        }
    }
}

/// A frame for `body`: text stays text, binary stays binary.
pub fn to_message(body: Body) -> Message {
    match body {
        Body::Text(text) => Message::Text(text.into()),
        Body::Binary(bytes) => Message::Binary(bytes.into()),
    }
}

async fn disconnect(
    state: &AppState,
    info: &ConnectionInfo,
    domain: &str,
    code: u16,
    reason: &str,
) {
    let event = apigw::disconnect_event(state.config(), info, domain, code, reason);
    match state.runtime().handle(event).await {
        Ok(_) => {
            tracing::info!(connection_id = %info.connection_id, code, reason, "disconnected")
        }
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, error = %e, "$disconnect failed")
        }
    }
}
