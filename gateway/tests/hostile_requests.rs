//! What a hostile client can no longer do to the gateway, through a real server on port 0 and
//! raw HTTP/1.1 written by hand (so every header is the test's choice): hold a connection slot
//! with a body it never finishes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wspush_gateway::{GatewayConfig, Limits};

/// An answer read to the end of the connection: status, head (lower-case) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads `stream` until the server closes it; `None` if it is still open after `secs`.
async fn read_until_closed(stream: &mut TcpStream, secs: u64) -> Option<Answer> {
    let mut raw = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(secs), stream.read_to_end(&mut raw));
    // `Ok(Err(_))`, a reset after the answer, is a close too.
    if waited.await.is_err() {
        return None;
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some(Answer {
        status,
        head: head.to_lowercase(),
        body: body.to_string(),
    })
}

/// A connection that sent `head` announcing a body of 100 bytes, and `partial` of them.
async fn holder(gw: &TestGateway, head: &str, partial: &str) -> TcpStream {
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Length: 100\r\n\r\n{partial}",
        gw.addr
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    stream
}

const PUT_EVENTS: &str = "POST / HTTP/1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\n\
                          Content-Type: application/x-amz-json-1.1";
const INVOKE: &str = "POST /2015-03-31/functions/CreateTestJwt/invocations HTTP/1.1";
const POST_TO_CONNECTION: &str = "POST /production/@connections/abc HTTP/1.1";
const REDRIVE: &str = "POST /_gateway/dead-letters/redrive HTTP/1.1";

/// Each API that reads a body answers a body held back 408 at the deadline (10 s) and closes
/// the connection; the view that reads none answers at once and closes it too.
#[tokio::test(start_paused = true)]
async fn an_unfinished_body_is_answered_408_and_closed_at_the_deadline() {
    let gw = TestGateway::start().await;
    for (head, partial) in [
        (POST_TO_CONNECTION, ""),
        (PUT_EVENTS, ""),
        (PUT_EVENTS, "{\"Entries\": [{\"Source\""),
        (INVOKE, "{"),
    ] {
        let mut stream = holder(&gw, head, partial).await;
        let answer = read_until_closed(&mut stream, 60)
            .await
            .unwrap_or_else(|| panic!("{head}: still open after 60 s"));
        assert_eq!(answer.status, 408, "{head}: {}", answer.head);
        assert!(
            answer
                .head
                .contains("x-amzn-errortype: requesttimeoutexception"),
            "{}",
            answer.head
        );
        assert!(answer.head.contains("connection: close"), "{}", answer.head);
        assert!(answer.body.contains("did not arrive"), "{}", answer.body);
    }
    let mut stream = holder(&gw, REDRIVE, "").await;
    assert!(read_until_closed(&mut stream, 60).await.is_some());
    gw.stop().await;
}

/// Connections holding unfinished bodies take every pending-connection slot for no longer than
/// the body deadline: then they are closed, and a new WebSocket client is accepted while their
/// clients still hold their sockets open.
#[tokio::test(start_paused = true)]
async fn unfinished_bodies_cannot_lock_new_websocket_clients_out() {
    const SLOTS: usize = 3;
    let gw = TestGateway::start_with(GatewayConfig {
        limits: Limits {
            max_pending_connections: SLOTS,
            ..Limits::default()
        },
        ..GatewayConfig::default()
    })
    .await;
    let mut holders = Vec::new();
    for n in 0..SLOTS {
        let head = [PUT_EVENTS, POST_TO_CONNECTION, INVOKE][n % 3];
        holders.push(holder(&gw, head, "").await);
    }
    // Every slot is taken: one more connection is closed at once.
    let mut extra = TcpStream::connect(gw.addr).await.expect("connect");
    let mut byte = [0u8; 1];
    assert!(matches!(extra.read(&mut byte).await, Ok(0) | Err(_)));

    for (n, stream) in holders.iter_mut().enumerate() {
        let answer = read_until_closed(stream, 60).await;
        assert!(answer.is_some(), "holder {n} still open after 60 s");
    }
    let mut client = gw.connect("newcomer").await;
    send_json(&mut client, json!({"action": "subscribe", "entityId": "e"})).await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
    drop(holders);
    gw.stop().await;
}
