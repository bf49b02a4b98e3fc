//! One socket from upgrade to `$disconnect`.
//!
//! One task owns the socket whole. Client frames become route invocations, each its own
//! invocation as on AWS (a slow one does not hold the next frame of the same connection), run
//! within the routes function's concurrency; their route responses, and pushes and closes from
//! `@connections`, arrive through the connection's mailbox. Every way out of the loop (client
//! close, dropped TCP, oversize or malformed frame, idle or lifetime limit, DELETE, shutdown)
//! ends in the same place: off the registry, in-flight invocations finished, then `$disconnect`.

use std::error::Error as _;
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use wspush_contract::routes;

use crate::apigw::{self, ids, Body};
use crate::registry::{self, ConnectionInfo, Mailbox, Outbound};
use crate::AppState;

pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a closing socket waits for the client's answering close frame.
const CLOSE_HANDSHAKE_WAIT: Duration = Duration::from_secs(1);

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
pub async fn run(mut socket: Socket, state: AppState, info: Arc<ConnectionInfo>, domain: String) {
    let (mailbox, mut inbox) = registry::mailbox();
    state.registry().insert(info.clone(), mailbox.clone());
    let mut invocations = JoinSet::new();
    let limits = state.config().limits.clone();
    let closes_at = Instant::now() + limits.max_connection;
    let mut last_active = Instant::now();
    let ending = loop {
        tokio::select! {
            frame = socket.next() => match frame {
                None => break Ending::new(1006, "Connection closed abnormally"),
                Some(Ok(message)) => {
                    last_active = Instant::now();
                    info.touch(ids::now_ms());
                    let body = match message {
                        Message::Text(text) => Body::Text(text.to_string()),
                        Message::Binary(bytes) => Body::Binary(bytes.to_vec()),
                        // tungstenite answers pings itself.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                        Message::Close(frame) => {
                            // Send the answering close frame tungstenite has queued.
                            let _ = socket.flush().await;
                            break match frame {
                                Some(f) => Ending::new(f.code.into(), f.reason.to_string()),
                                None => Ending::new(1005, ""),
                            };
                        }
                    };
                    invocations.spawn(route(state.clone(), info.clone(), domain.clone(), body, mailbox.clone()));
                }
                Some(Err(e)) => {
                    let ending = ending_of(&e);
                    if ending.code != 1006 {
                        Box::pin(close(&mut socket, &ending)).await;
                    }
                    break ending;
                }
            },
            Some(_) = invocations.join_next(), if !invocations.is_empty() => {}
            command = inbox.recv() => match command {
                Some(Outbound::Message(body)) => {
                    let size = body.len();
                    let sent = send(&mut socket, body, limits.max_frame_bytes).await;
                    inbox.sent(size);
                    if let Err(e) = sent {
                        break Ending::new(1006, e.to_string());
                    }
                }
                Some(Outbound::Close { code, reason }) => {
                    let ending = Ending::new(code, reason);
                    Box::pin(close(&mut socket, &ending)).await;
                    break ending;
                }
                None => break Ending::new(1006, "gateway dropped the connection"),
            },
            () = sleep_until(last_active + limits.idle_timeout) => {
                Box::pin(close(&mut socket, &Ending::new(1001, "Going away"))).await;
                break Ending::new(1001, "Idle timeout");
            }
            () = sleep_until(closes_at) => {
                Box::pin(close(&mut socket, &Ending::new(1001, "Going away"))).await;
                break Ending::new(1001, "Maximum connection duration exceeded");
            }
        }
    };

    state.registry().remove(&info.connection_id);
    drop(socket);
    // Frames already received are still routed before `$disconnect`, as their Lambda
    // invocations would be in flight in AWS.
    while invocations.join_next().await.is_some() {}
    disconnect(&state, &info, &domain, ending.code, &ending.reason).await;
}

/// The close code a read error calls for: 1009 for a frame or message over the limits, 1007
/// for text that is not UTF-8, 1002 for any other protocol violation; a transport failure has
/// no close frame (1006).
fn ending_of(error: &WsError) -> Ending {
    match error {
        WsError::Capacity(_) => Ending::new(1009, "Message too big"),
        WsError::Utf8(_) => Ending::new(1007, "Invalid frame payload data"),
        WsError::Protocol(p) => Ending::new(1002, format!("Protocol error: {p}")),
        other => {
            let cause = other.source().map(ToString::to_string).unwrap_or_default();
            Ending::new(1006, format!("{other} {cause}").trim().to_string())
        }
    }
}

/// Runs one client frame as its own route invocation and queues its route response.
async fn route(
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    body: Body,
    mailbox: Mailbox,
) {
    let route = apigw::select_route(&body);
    let event = apigw::message_event(state.config(), &info, &domain, route, &body);
    let reply = match state.functions().routes.invoke(event).await {
        Ok(answer) if routes::TWO_WAY.contains(&route) => apigw::route_response(answer).body,
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, route, error = %e, "route failed");
            Some(Body::Text(
                json!({
                    "message": "Internal server error",
                    "connectionId": info.connection_id,
                    "requestId": ids::request_id(),
                })
                .to_string(),
            ))
        }
    };
    if let Some(reply) = reply {
        mailbox.send(reply);
    }
}

/// Sends one message, split into frames of at most `max_frame` bytes as API Gateway splits
/// `@connections` messages over its 32 KB frame limit (the client sees one message).
async fn send(socket: &mut Socket, body: Body, max_frame: usize) -> Result<(), WsError> {
    let step = max_frame.max(1);
    // The common case, one frame: the text is handed over as it is, without a copy.
    let (bytes, data) = match body {
        Body::Text(text) if text.len() <= step => {
            return socket.send(Message::Text(text.into())).await
        }
        Body::Binary(bytes) if bytes.len() <= step => {
            return socket.send(Message::Binary(bytes.into())).await
        }
        Body::Text(text) => (Bytes::from(text), Data::Text),
        Body::Binary(bytes) => (Bytes::from(bytes), Data::Binary),
    };
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + step).min(bytes.len());
        let opcode = if start == 0 {
            OpCode::Data(data)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(bytes.slice(start..end), opcode, end == bytes.len());
        socket.feed(Message::Frame(frame)).await?;
        start = end;
    }
    socket.flush().await
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(socket: &mut Socket, ending: &Ending) {
    let frame = CloseFrame {
        code: CloseCode::from(ending.code),
        reason: ending.reason.clone().into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = timeout(CLOSE_HANDSHAKE_WAIT, async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Runs `$disconnect`. It waits for a free slot of the routes function rather than being
/// throttled: the records it removes would otherwise stay until their TTL.
///
/// Boxed: the invocation's future (the whole route handler) is large, and an unboxed one
/// would be part of every socket task's state for its whole life, idle or not.
pub async fn disconnect(
    state: &AppState,
    info: &ConnectionInfo,
    domain: &str,
    code: u16,
    reason: &str,
) {
    Box::pin(run_disconnect(state, info, domain, code, reason)).await;
}

async fn run_disconnect(
    state: &AppState,
    info: &ConnectionInfo,
    domain: &str,
    code: u16,
    reason: &str,
) {
    let event = apigw::disconnect_event(state.config(), info, domain, code, reason);
    match state.functions().routes.invoke_when_free(event).await {
        Ok(_) => {
            tracing::info!(connection_id = %info.connection_id, code, reason, "disconnected")
        }
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, error = %e, "$disconnect failed")
        }
    }
}
