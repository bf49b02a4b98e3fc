//! The WebSocket side. The handshake, and what only the codec does (its frame limit), against
//! a real server on port 0; the socket loop (routes, limits, closes) over channels on paused
//! time ([`common::channel`]).

mod common;

use std::time::Duration;

use common::channel::ChannelGateway;
use common::*;
use futures::{SinkExt, Stream, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wspush_gateway::GatewayConfig;
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};

#[tokio::test]
async fn token_in_the_query_string_connects_and_the_record_is_written() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect("alice").await;
    // `$connect` wrote it before the handshake was answered.
    assert_eq!(gw.store.connection_count(), 1);
    send_json(&mut client, json!({"action": "ping"})).await;
    assert_eq!(next_json(&mut client, 5).await, json!({"type": "Pong"}));
    client.close(None).await.expect("close");
    gw.disconnected().await;
    assert_eq!(gw.store.connection_count(), 0, "$disconnect ran");
    gw.stop().await;
}

#[tokio::test]
async fn token_as_subprotocol_connects_and_websocket_is_selected() {
    let gw = TestGateway::start().await;
    let offered = format!("websocket, {}", gw.token("bob"));
    let (mut client, response) = connect_raw(&gw.ws_url(), Some(&offered))
        .await
        .expect("handshake accepted");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("websocket")
    );
    send_json(&mut client, json!({"action": "ping"})).await;
    assert_eq!(next_json(&mut client, 5).await, json!({"type": "Pong"}));
    client.close(None).await.expect("close");
    gw.stop().await;
}

#[tokio::test]
async fn the_root_path_works_too() {
    let gw = TestGateway::start().await;
    let url = format!("ws://{}/?access_token={}", gw.addr, gw.token("carol"));
    let (mut client, _) = connect_raw(&url, None).await.expect("connect at /");
    send_json(&mut client, json!({"action": "ping"})).await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Pong");
    gw.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_401_before_the_upgrade_and_nothing_is_stored() {
    let gw = TestGateway::start().await;
    let forged = TokenKeys::new(
        b"not-the-secret",
        wspush_runtime::auth::ClaimRules::default(),
    )
    .mint(&TestTokenRequest::default(), now())
    .expect("mint");
    let expired = gw
        .keys
        .mint(&TestTokenRequest::default(), now() - 3 * 3600)
        .expect("mint");
    let cases = [
        ("missing", gw.ws_url()),
        ("forged", format!("{}?access_token={forged}", gw.ws_url())),
        ("expired", format!("{}?access_token={expired}", gw.ws_url())),
        (
            "garbage",
            format!("{}?access_token=abc.def.ghi", gw.ws_url()),
        ),
    ];
    for (what, url) in cases {
        let refused = connect_raw(&url, None).await.expect_err(what);
        assert_eq!(refusal_status(&refused), Some(401), "{what}: {refused}");
    }
    let refused = connect_raw(&gw.ws_url(), Some(&format!("websocket, {forged}")))
        .await
        .expect_err("forged subprotocol token");
    assert_eq!(refusal_status(&refused), Some(401));
    assert_eq!(gw.store.connection_count(), 0);
    assert!(gw.state.registry().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn unknown_stage_is_forbidden_and_plain_http_is_told_to_upgrade() {
    let gw = TestGateway::start().await;
    let url = format!("ws://{}/staging?access_token={}", gw.addr, gw.token("x"));
    let refused = connect_raw(&url, None).await.expect_err("wrong stage");
    assert_eq!(refusal_status(&refused), Some(403));

    use tower::ServiceExt;
    let response = wspush_gateway::app(gw.state.clone())
        .oneshot(
            axum::http::Request::get("/production")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    // No ConnectInfo without a real server: only reachable through `oneshot`; the real
    // server is checked through a raw HTTP GET below.
    assert!(response.status().is_client_error() || response.status().is_server_error());

    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "GET /production HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(
        answer.contains("wscat"),
        "the answer says how to connect: {answer}"
    );
    gw.stop().await;
}

#[tokio::test(start_paused = true)]
async fn frames_are_routed_and_errors_leave_the_connection_open() {
    let gw = ChannelGateway::new(GatewayConfig::default());
    let mut client = gw.connect("dave").await;
    send_json(
        &mut client,
        json!({"action": "subscribe", "entityId": "E1"}),
    )
    .await;
    assert_eq!(
        next_json(&mut client, 5).await,
        json!({"type": "Subscribed", "entityId": "E1", "streamId": null, "serial": 0})
    );
    client
        .send(Message::Text("not json".into()))
        .await
        .expect("send");
    let error = next_json(&mut client, 5).await;
    assert_eq!(error["type"], "Error");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("subscribe, unsubscribe, ping")));
    send_json(&mut client, json!({"action": "dance"})).await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Error");
    send_json(&mut client, json!({"action": "subscribe"})).await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Error");
    client
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut client, 5).await["type"], "Error");
    // Still open and served.
    send_json(
        &mut client,
        json!({"action": "unsubscribe", "entityId": "E1"}),
    )
    .await;
    assert_eq!(
        next_json(&mut client, 5).await,
        json!({"type": "Unsubscribed", "entityId": "E1"})
    );
}

/// The frame limit is the codec's, set at the upgrade: this one needs a real socket. The loop's
/// answer to the codec's error is `read_errors_and_client_closes_end_the_socket_with_their_codes`.
#[tokio::test]
async fn an_oversize_frame_closes_with_1009_and_runs_disconnect() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect("erin").await;
    assert_eq!(gw.store.connection_count(), 1);
    let big = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(33 * 1024));
    client.send(Message::Text(big.into())).await.expect("send");
    assert_eq!(close_code(&mut client, 5).await, Some(1009));
    gw.disconnected().await;
    assert_eq!(gw.store.connection_count(), 0);
    gw.stop().await;
}

/// Each way the codec ends a read, and what the loop makes of it: the close code the error
/// calls for, or no close frame when the client closed (the codec answers it) or the
/// connection failed; then the gateway's side ends and `$disconnect` runs. Whether the codec
/// produces these errors is `an_oversize_frame_closes_with_1009_and_runs_disconnect` and
/// `fidelity.rs` `close_frames_are_answered_and_protocol_errors_get_their_codes`.
#[tokio::test(start_paused = true)]
async fn read_errors_and_client_closes_end_the_socket_with_their_codes() {
    let gw = ChannelGateway::new(GatewayConfig::default());
    let too_long = CapacityError::MessageTooLong {
        size: 33 * 1024,
        max_size: 32 * 1024,
    };
    let goodbye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    let cases = [
        ("oversize", Err(WsError::Capacity(too_long)), Some(1009)),
        (
            "reserved opcode",
            Err(WsError::Protocol(ProtocolError::InvalidOpcode(3))),
            Some(1002),
        ),
        (
            "not UTF-8",
            Err(WsError::Utf8("invalid".into())),
            Some(1007),
        ),
        (
            "transport",
            Err(WsError::Io(std::io::ErrorKind::ConnectionReset.into())),
            None,
        ),
        ("client close", Ok(Message::Close(Some(goodbye))), None),
    ];
    for (what, read, code) in cases {
        let mut client = gw.connect(what).await;
        assert_eq!(gw.store.connection_count(), 1, "{what}");
        client.codec_reads(read);
        assert_eq!(close_code(&mut client, 5).await, code, "{what}");
        assert!(
            client.next().await.is_none(),
            "{what}: the gateway's side ended"
        );
        client.disconnected().await;
        assert_eq!(gw.store.connection_count(), 0, "{what}: $disconnect ran");
    }
}

/// API Gateway's own limits (10 minutes idle, 2 hours at most), on paused time: tokio's clock
/// jumps to the next timer whenever every task waits, so the test takes milliseconds.
#[tokio::test(start_paused = true)]
async fn idle_and_lifetime_limits_close_with_1001() {
    let gw = ChannelGateway::new(GatewayConfig::default());
    let started = tokio::time::Instant::now();
    let mut idle = gw.connect("frank").await;
    assert_eq!(close_code(&mut idle, 11 * 60).await, Some(1001));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10 * 60) && waited < Duration::from_secs(11 * 60),
        "closed after {waited:?} of silence"
    );

    let mut busy = gw.connect("grace").await;
    let connected = tokio::time::Instant::now();
    // Activity every 9 minutes keeps it from idling, and does not extend the maximum.
    let closed = loop {
        send_json(&mut busy, json!({"action": "ping"})).await;
        assert_eq!(next_json(&mut busy, 60).await["type"], "Pong");
        tokio::time::sleep(Duration::from_secs(9 * 60)).await;
        if let Some(code) = close_code_within(&mut busy, Duration::from_millis(1)).await {
            break code;
        }
        assert!(
            connected.elapsed() < Duration::from_secs(3 * 3600),
            "never closed"
        );
    };
    assert_eq!(closed, 1001);
    let lived = connected.elapsed();
    assert!(
        lived >= Duration::from_secs(2 * 3600) && lived < Duration::from_secs(2 * 3600 + 10 * 60),
        "lived {lived:?}"
    );
    idle.disconnected().await;
    busy.disconnected().await;
    assert_eq!(gw.store.connection_count(), 0);
}

/// The close code when the next frame is a close frame arriving within `wait`.
async fn close_code_within<C>(client: &mut C, wait: Duration) -> Option<u16>
where
    C: Stream<Item = Result<Message, WsError>> + Unpin,
{
    match tokio::time::timeout(wait, client.next()).await {
        Ok(Some(Ok(Message::Close(frame)))) => frame.map(|f| u16::from(f.code)),
        _ => None,
    }
}

#[tokio::test]
async fn shutdown_closes_sockets_and_runs_disconnect() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect("heidi").await;
    assert_eq!(gw.store.connection_count(), 1);
    let store = gw.store.clone();
    gw.stop().await;
    assert_eq!(close_code(&mut client, 5).await, Some(1001));
    assert_eq!(store.connection_count(), 0);
}
