//! A real gateway on 127.0.0.1 port 0, and a WebSocket client for it; [`channel`] drives the
//! socket loop without either. The frame helpers take any client that is a `Sink` of messages
//! and a `Stream` of what it read, so they serve both.
#![allow(dead_code)]

pub mod channel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wspush_gateway::{AppState, GatewayConfig};
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};
use wspush_runtime::store::{ConnectionStore, MemoryStore};

pub const SECRET: &str = "gateway-test-secret";

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestGateway {
    pub addr: SocketAddr,
    pub state: AppState,
    pub store: MemoryStore,
    pub keys: TokenKeys,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(GatewayConfig::default()).await
    }

    pub async fn start_with(config: GatewayConfig) -> Self {
        let store = MemoryStore::new();
        Self::start_with_store(config, store.clone(), Arc::new(store)).await
    }

    /// A gateway whose runtime uses `backing` (a wrapper around `store`, for fault tests).
    pub async fn start_with_store(
        config: GatewayConfig,
        store: MemoryStore,
        backing: Arc<dyn ConnectionStore>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::new(config, backing, SECRET.as_bytes(), addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wspush_gateway::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            state,
            store,
            keys: TokenKeys::new(
                SECRET.as_bytes(),
                wspush_runtime::auth::ClaimRules::default(),
            ),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A valid token for `user`.
    pub fn token(&self, user: &str) -> String {
        mint_token(&self.keys, user)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/production", self.addr)
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connects with the token in the query string.
    pub async fn connect(&self, user: &str) -> Client {
        let url = format!("{}?access_token={}", self.ws_url(), self.token(user));
        let (client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        client
    }

    /// Waits until every socket that ended ran `$disconnect` (at most 5 seconds).
    pub async fn disconnected(&self) {
        self.state
            .registry()
            .wait_idle(Duration::from_secs(5))
            .await;
    }

    /// Stops the server and waits until every socket ran `$disconnect`.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let served = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(
                matches!(served, Ok(Ok(Ok(())))),
                "server stopped cleanly: {served:?}"
            );
        }
    }
}

/// A valid token for `user`, signed with `keys`.
/// One HTTP/1.1 request to the gateway over a fresh TCP stream, written as given: the request
/// line, `Host`, `Content-Length`, `Connection: close`, then `headers` (repeated names
/// included) and `body`. The whole raw answer.
pub async fn raw_http(
    gw: &TestGateway,
    request_line: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!(
        "{request_line} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        gw.addr,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write the body");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .expect("read");
    raw
}

pub fn mint_token(keys: &TokenKeys, user: &str) -> String {
    let request = TestTokenRequest {
        user_id: Some(user.to_string()),
        ..TestTokenRequest::default()
    };
    keys.mint(&request, now()).expect("mint")
}

/// Connects to `url`, offering `protocols` in `Sec-WebSocket-Protocol` when given.
pub async fn connect_raw(
    url: &str,
    protocols: Option<&str>,
) -> Result<
    (
        Client,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = url.into_client_request()?;
    if let Some(protocols) = protocols {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocols).expect("header value"),
        );
    }
    tokio_tungstenite::connect_async(request).await
}

/// A raw HTTP/1.1 answer split into its status, its head (status line and headers, lower-case)
/// and its body.
pub fn parse_answer(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// The HTTP status of a refused handshake.
pub fn refusal_status(error: &tokio_tungstenite::tungstenite::Error) -> Option<u16> {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => Some(response.status().as_u16()),
        _ => None,
    }
}

pub async fn send_json<C>(client: &mut C, value: Value)
where
    C: Sink<Message> + Unpin,
    C::Error: std::fmt::Debug,
{
    client
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("send");
}

/// The next text frame as JSON, skipping pings; panics after `secs`.
pub async fn next_json<C>(client: &mut C, secs: u64) -> Value
where
    C: Stream<Item = Result<Message, WsError>> + Unpin,
{
    serde_json::from_str(&next_text(client, secs).await).expect("frame is JSON")
}

/// The next text frame as it arrived, skipping pings; panics after `secs`.
pub async fn next_text<C>(client: &mut C, secs: u64) -> String
where
    C: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let deadline = Duration::from_secs(secs);
    loop {
        let frame = tokio::time::timeout(deadline, client.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame reads");
        match frame {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Whether no data frame arrives within `millis`.
pub async fn silent_for<C>(client: &mut C, millis: u64) -> bool
where
    C: Stream<Item = Result<Message, WsError>> + Unpin,
{
    tokio::time::timeout(Duration::from_millis(millis), client.next())
        .await
        .is_err()
}

/// Waits for the close frame and returns its code.
pub async fn close_code<C>(client: &mut C, secs: u64) -> Option<u16>
where
    C: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, client.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
        }
    }
}

/// Polls `check` until it holds or `secs` pass.
pub async fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The `@connections` SDK client, pointed at the gateway's stage.
pub fn management(gw: &TestGateway) -> aws_sdk_apigatewaymanagement::Client {
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    wspush_runtime::aws::management_client(&sdk, &format!("{}/production", gw.http()))
}

/// The connection id of the only open socket.
pub async fn only_connection(gw: &TestGateway) -> String {
    assert!(eventually(2, || gw.state.registry().len() == 1).await);
    gw.state
        .registry()
        .ids()
        .into_iter()
        .next()
        .expect("one connection")
}

/// The address `unbound_state` names; nothing listens on it.
pub const UNBOUND_HOST: &str = "127.0.0.1:9";

/// A gateway state for `backing` whose address nothing listens on: the router answers, the
/// queue pollers are not started.
pub fn unbound_state(config: GatewayConfig, backing: Arc<dyn ConnectionStore>) -> AppState {
    let addr: SocketAddr = UNBOUND_HOST.parse().expect("an address");
    wspush_gateway::AppState::new(config, backing, SECRET.as_bytes(), addr)
}

/// A request to the gateway's router signed as the runtime signs it, to `UNBOUND_HOST`.
pub fn signed_request(method: &Method, path: &str, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", UNBOUND_HOST);
    for (name, value) in sigv4_headers(
        method.as_str(),
        UNBOUND_HOST,
        path,
        &body,
        std::time::SystemTime::now(),
    ) {
        request = request.header(name, value);
    }
    request.body(Body::from(body)).expect("a request")
}

/// SigV4 headers for a request to `@connections` at `host`, signed with the runtime's local
/// key by `aws-sigv4` (the signer both of the runtime's push clients use), at `time`.
pub fn sigv4_headers(
    method: &str,
    host: &str,
    path_and_query: &str,
    body: &[u8],
    time: std::time::SystemTime,
) -> Vec<(&'static str, String)> {
    let request = SignedParts {
        service: "execute-api",
        method,
        host,
        path_and_query,
        headers: &[],
        body,
    };
    sigv4_headers_for(&request, time)
}

/// What a test signs: the service's signing name, the request line, the headers signed beside
/// `host`, and the body.
pub struct SignedParts<'a> {
    pub service: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// SigV4 headers for `request`, signed with the runtime's local key by `aws-sigv4` in
/// us-east-1 at `time`.
pub fn sigv4_headers_for(
    request: &SignedParts<'_>,
    time: std::time::SystemTime,
) -> Vec<(&'static str, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;
    let identity = aws_credential_types::Credentials::new(
        wspush_runtime::aws::LOCAL_ACCESS_KEY_ID,
        wspush_runtime::aws::LOCAL_SECRET_ACCESS_KEY,
        None,
        None,
        "tests",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(request.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params");
    let url = format!("http://{}{}", request.host, request.path_and_query);
    let headers = std::iter::once(("host", request.host)).chain(request.headers.iter().copied());
    let request = SignableRequest::new(
        request.method,
        url.as_str(),
        headers,
        SignableBody::Bytes(request.body),
    )
    .expect("a signable request");
    let (headers, _) = sign(request, &params.into())
        .expect("signed")
        .into_parts()
        .0
        .into_parts();
    headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_string()))
        .collect()
}

/// One request through `app(state)`: the status, the headers and the JSON body of the answer
/// (`Null` when empty).
pub async fn call(
    gw: &TestGateway,
    request: axum::http::Request<axum::body::Body>,
) -> (u16, axum::http::HeaderMap, Value) {
    use tower::ServiceExt;
    let response = wspush_gateway::app(gw.state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, headers, body)
}

/// A `PutEvents` request with `entries`, as the aws CLI sends it.
pub fn put_events_request(entries: Value) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/")
        .header("x-amz-target", "AWSEvents.PutEvents")
        .header("content-type", "application/x-amz-json-1.1")
        .body(axum::body::Body::from(
            serde_json::json!({"Entries": entries}).to_string(),
        ))
        .expect("request")
}
