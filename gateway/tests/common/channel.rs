//! The gateway's socket loop over channels: no listener, no TCP, no codec.
//!
//! A connection is admitted by the same identity sources, authorizer and `$connect` as over
//! the wire (its records are written), then `websocket::socket::run` owns it with a channel as
//! each half. Everything is in-process, so tests pause tokio's clock and the limits' minutes
//! and hours pass at once. `@connections` is reached through the whole router, signed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Method;
use futures::channel::mpsc;
use futures::{Sink, Stream, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tower::ServiceExt;
use wspush_gateway::client::Handshake;
use wspush_gateway::ids;
use wspush_gateway::websocket::{self, Admission};
use wspush_gateway::{AppState, GatewayConfig};
use wspush_runtime::auth::TokenKeys;
use wspush_runtime::store::{ConnectionStore, MemoryStore};

use super::{mint_token, signed_request, unbound_state, SECRET};

/// How many frames a channel client's side holds before the gateway's writes wait, when the
/// test does not say: more than any test reads.
const CLIENT_BUFFER_FRAMES: usize = 1024;

pub struct ChannelGateway {
    pub state: AppState,
    pub store: MemoryStore,
    keys: TokenKeys,
}

/// An `@connections` answer: its status and `x-amzn-ErrorType`.
#[derive(Debug)]
pub struct ConnectionsAnswer {
    pub status: u16,
    pub error_type: Option<String>,
}

impl ChannelGateway {
    pub fn new(config: GatewayConfig) -> Self {
        let store = MemoryStore::new();
        Self::with_store(config, store.clone(), Arc::new(store))
    }

    /// A gateway whose runtime uses `backing` (a wrapper around `store`, for fault tests).
    pub fn with_store(
        config: GatewayConfig,
        store: MemoryStore,
        backing: Arc<dyn ConnectionStore>,
    ) -> Self {
        Self {
            state: unbound_state(config, backing),
            store,
            keys: TokenKeys::new(
                SECRET.as_bytes(),
                wspush_runtime::auth::ClaimRules::default(),
            ),
        }
    }

    /// Connects `user` with the token in the query string.
    pub async fn connect(&self, user: &str) -> ChannelClient {
        self.connect_with_buffer(user, CLIENT_BUFFER_FRAMES).await
    }

    /// Connects `user` with a client side that holds `frames` before the gateway's writes
    /// wait (as a client's codec and the kernel's buffers do). A message over the frame limit
    /// is several frames.
    pub async fn connect_with_buffer(&self, user: &str, frames: usize) -> ChannelClient {
        let hello = handshake(&mint_token(&self.keys, user));
        let admitted = match websocket::admit(&self.state, &hello).await {
            Ok(Admission::Admitted(admitted)) => admitted,
            Ok(Admission::Refused(answer)) => panic!("$connect refused: {}", answer.status()),
            Err(refused) => panic!("handshake refused: {refused}"),
        };
        let (to_gateway, reader) = mpsc::unbounded();
        let (writer, from_gateway) = mpsc::channel(frames);
        let connection_id = admitted.info.connection_id.clone();
        let task = tokio::spawn(websocket::socket::run(
            writer,
            reader,
            self.state.clone(),
            admitted.info,
            hello.domain_name,
        ));
        // The socket registers on its task's first poll.
        while self.state.registry().info(&connection_id).is_none() {
            tokio::task::yield_now().await;
        }
        ChannelClient {
            connection_id,
            to_gateway,
            from_gateway,
            task,
        }
    }

    /// `PostToConnection` through the whole router.
    pub async fn post_to_connection(
        &self,
        connection_id: &str,
        data: Vec<u8>,
    ) -> ConnectionsAnswer {
        let encoded = connection_id
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let path = format!("/production/@connections/{encoded}");
        let request = signed_request(&Method::POST, &path, data);
        let response = wspush_gateway::app(self.state.clone())
            .oneshot(request)
            .await
            .expect("the router answers");
        ConnectionsAnswer {
            status: response.status().as_u16(),
            error_type: response
                .headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }
}

impl ChannelGateway {
    /// A GET of the router's own JSON views (`/_gateway/...`).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let request = axum::http::Request::get(path)
            .header("host", super::UNBOUND_HOST)
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = wspush_gateway::app(self.state.clone())
            .oneshot(request)
            .await
            .expect("the router answers");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        serde_json::from_slice(&body).expect("JSON")
    }
}

/// What API Gateway knows of a handshake carrying `token` in the query string.
fn handshake(token: &str) -> Handshake {
    Handshake {
        connection_id: ids::connection_id(),
        request_id: ids::request_id(),
        connected_at_ms: ids::now_ms(),
        source_ip: "127.0.0.1".into(),
        user_agent: None,
        domain_name: "localhost".into(),
        headers: vec![("host".into(), "localhost".into())],
        query: vec![("access_token".into(), token.to_string())],
    }
}

/// The client's ends of the two channels. As a `Sink` it sends messages as the codec would
/// have read them; as a `Stream` it yields what the gateway wrote, so the helpers written for
/// real sockets serve it unchanged.
pub struct ChannelClient {
    pub connection_id: String,
    to_gateway: mpsc::UnboundedSender<Result<Message, WsError>>,
    from_gateway: mpsc::Receiver<Message>,
    task: JoinHandle<()>,
}

impl ChannelClient {
    /// What the codec hands the socket next: a message, or a read error.
    pub fn codec_reads(&self, read: Result<Message, WsError>) {
        self.to_gateway
            .unbounded_send(read)
            .expect("the socket reads");
    }

    /// Waits until the socket ended and ran `$disconnect`.
    pub async fn disconnected(self) {
        self.task.await.expect("the socket task ends");
    }
}

impl Stream for ChannelClient {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_gateway.poll_next_unpin(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for ChannelClient {
    type Error = mpsc::SendError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.to_gateway).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.to_gateway).start_send(Ok(message))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.to_gateway).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.to_gateway).poll_close(cx)
    }
}
