//! What a hostile client or a foreign web page can no longer do to the gateway, through a real
//! server on port 0 and raw HTTP/1.1 written by hand (so every header is the test's choice):
//! hold a connection slot with a body it never finishes, reach the gateway under another
//! host's name (DNS rebinding), or change the `/_gateway/` views from another origin's page.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
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
    let (status, head, body) = parse_answer(&raw);
    Some(Answer { status, head, body })
}

/// Refused as a foreign host or a foreign page is: 403 `ForbiddenException`.
fn assert_forbidden(answer: &Answer, context: &str) {
    assert_eq!(answer.status, 403, "{context}: {}", answer.head);
    assert!(
        answer.head.contains("x-amzn-errortype: forbiddenexception"),
        "{context}: {}",
        answer.head
    );
}

/// Events sent to the gateway's queues so far (redriven ones again).
fn events_sent(gw: &TestGateway) -> u64 {
    let queues = gw.state.queues();
    queues.all().iter().map(|q| q.counts().sent).sum()
}

/// Sends `head` (request line and headers, without the blank line) and `body`, then reads the
/// answer until the server closes the connection.
async fn exchange(gw: &TestGateway, head: &str, body: &str) -> Answer {
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    read_until_closed(&mut stream, 10)
        .await
        .expect("answered and closed")
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

/// One entry of a `PutEvents` request that would be accepted.
const ENTRIES: &str = r#"{"Entries":[{"Source":"s","DetailType":"Entity Updated","Detail":"{}"}]}"#;

/// A request to each route family: its request line, any other header, its body.
fn every_route_family() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("GET /_gateway/connections HTTP/1.1", "", ""),
        ("GET /_gateway/console HTTP/1.1", "", ""),
        ("GET /_gateway/console/settings.json HTTP/1.1", "", ""),
        (REDRIVE, "", ""),
        (PUT_EVENTS, "", ENTRIES),
        (INVOKE, "", "{}"),
        (POST_TO_CONNECTION, "", "{}"),
        ("GET / HTTP/1.1", "Accept: text/html\r\n", ""),
        ("GET /production HTTP/1.1", "", ""),
    ]
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_every_route_family() {
    let gw = TestGateway::start().await;
    let port = gw.addr.port();
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost:{}", port.wrapping_add(1)),
    ] {
        for (line, extra, body) in every_route_family() {
            let head = format!("{line}\r\n{extra}Host: {host}");
            let answer = exchange(&gw, &head, body).await;
            assert_forbidden(&answer, &format!("{host} {line}"));
            assert!(answer.body.contains("--allowed-host"), "{}", answer.body);
        }
    }
    let functions = gw.state.functions();
    assert_eq!(
        functions.test_token.stats().invocations,
        0,
        "no token minted"
    );
    assert_eq!(events_sent(&gw), 0, "no event sent");

    // The WebSocket handshake, with a valid token.
    let refused = handshake_with_host(&gw, &format!("attacker.example:{port}"))
        .await
        .expect_err("refused");
    assert_eq!(refusal_status(&refused), Some(403));
    assert_eq!(gw.state.registry().len(), 0);
    gw.stop().await;
}

async fn handshake_with_host(
    gw: &TestGateway,
    host: &str,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}?access_token={}", gw.ws_url(), gw.token("host"));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("host", HeaderValue::from_str(host).expect("header value"));
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(client, _)| client)
}

#[tokio::test]
async fn the_gateways_own_names_and_allowed_hosts_are_served() {
    let gw = TestGateway::start_with(GatewayConfig {
        allowed_hosts: vec!["gateway.test".to_string()],
        ..GatewayConfig::default()
    })
    .await;
    let port = gw.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        "gateway.test:8080".to_string(),
    ] {
        let head = format!("GET /_gateway/connections HTTP/1.1\r\nHost: {host}");
        assert_eq!(exchange(&gw, &head, "").await.status, 200, "{host}");
        let _client = handshake_with_host(&gw, &host)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    gw.stop().await;
}

/// A dead letter, then cross-origin redrives refused and the gateway's own origin served.
#[tokio::test]
async fn a_cross_origin_redrive_is_refused_and_the_gateways_own_origin_is_served() {
    // The deployed queue settings: an event the function refuses is dead-lettered on its first
    // receive, and a visibility timeout shorter than that receive would deliver it twice.
    let gw = TestGateway::start().await;
    // An entity id that is not a string fails in the events function: a dead letter.
    let entries = json!({"Entries": [{"Source": "s", "DetailType": "Entity Updated",
        "Detail": json!({"entityId": 5, "message": 1}).to_string()}]});
    let head = format!("{PUT_EVENTS}\r\nHost: {}", gw.addr);
    assert_eq!(exchange(&gw, &head, &entries.to_string()).await.status, 200);
    assert!(eventually(10, || gw.state.queues().dead_letters().len() == 1).await);
    let sent_before = events_sent(&gw);

    for refused in [
        "Origin: http://evil.example",
        "Origin: null",
        "Origin: https://127.0.0.1",
        "Sec-Fetch-Site: cross-site",
    ] {
        let head = format!(
            "{REDRIVE}\r\nHost: {}\r\n{refused}\r\nContent-Type: text/plain",
            gw.addr
        );
        let answer = exchange(&gw, &head, "").await;
        assert_forbidden(&answer, refused);
    }
    assert_eq!(events_sent(&gw), sent_before, "nothing redriven");
    assert_eq!(gw.state.queues().dead_letters().len(), 1);

    let head = format!(
        "{REDRIVE}\r\nHost: {0}\r\nOrigin: http://{0}\r\nSec-Fetch-Site: same-origin",
        gw.addr
    );
    let answer = exchange(&gw, &head, "").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    let redriven: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(redriven["redriven"], 1);
    gw.stop().await;
}
