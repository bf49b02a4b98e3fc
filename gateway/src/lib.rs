//! The local gateway: the whole push service on one machine, one port, no AWS account.
//!
//! It hosts the runtime's [`wspush_runtime::Runtime`] in-process and speaks the wire protocols
//! of the AWS services around it, so the clients and commands that work against AWS (wscat,
//! browsers, `aws events put-events`, `aws lambda invoke`, the SDK's `@connections` client)
//! work here unchanged. A tour, in the order a request travels:
//!
//! - [`app`] builds the one [`axum::Router`] from one router per emulated API, and [`serve`]
//!   runs it on a listener the caller bound (tests bind port 0). Every router shares one
//!   [`state::AppState`]: the runtime, the functions, the queues, the live sockets, the options.
//! - Before any router, [`local_only`] refuses requests addressed to another host (DNS
//!   rebinding) and other origins' pages changing the `/_gateway/` views, and
//!   [`body_deadline`] gives every request body a deadline, so a client that holds its body
//!   back cannot hold a connection slot for ever.
//! - [`websocket`] is API Gateway's WebSocket side: the `$connect` handshake checks the
//!   authorizer's [`identity`] sources and runs the REQUEST authorizer *before* upgrading, then
//!   the `$connect` route, selecting only the subprotocol it returns; frames are routed by
//!   `$request.body.action`, each its own invocation; every close runs `$disconnect`.
//! - [`integration`] is what API Gateway sends to the functions and how it reads their answers:
//!   route selection, the authorizer and WebSocket events, the policy and proxy responses. It
//!   reads the plain data of a connection, [`client`] (the handshake, message bodies), and
//!   stamps it with [`ids`].
//! - [`functions`] are the five deployed functions, each serving only its event kinds, each with
//!   its own concurrency limit, as Lambda runs them; the pushers' limit and pace follow
//!   `--push-rate-limit` as `PushRateLimit` sets them when deployed.
//! - [`registry`] holds the live sockets by connection id; it is what `@connections` talks to.
//!   [`virtual_connections`] are ids with no socket, subscribed in the store, whose pushes
//!   `@connections` counts instead, so the push path can be measured with a million
//!   subscribers (local only).
//! - [`connections`] is the `@connections` management API (POST, GET, DELETE), reached by the
//!   runtime through its ordinary push client pointed at this server; every call passes the
//!   SigV4 check of [`connections::sigv4`] and the account's [`throttle`] (optional).
//! - [`eventbridge`] is `PutEvents`: EventBridge's limits and per-entry failures, then the typed
//!   events through rules on `detail-type` as deployed, into [`queues`]: local SQS queues with
//!   the deployed batch size, visibility timeout, receive count and dead-letter queues, polled
//!   into the events function as SQS events. The push queue takes the push batches the events
//!   function plans for a large audience, polled into the pushers. [`sqs`] is `SendMessage` and
//!   `SendMessageBatch` to the push queue and the dead-letter queues (where a record that can
//!   never succeed goes with its reason); [`aws_json`] routes `POST /` to either service by
//!   `X-Amz-Target`.
//! - [`lambda`] is `Invoke` for the `CreateTestJwt` function.
//! - [`introspect`] shows connections (with their subscriptions), functions, queues and dead
//!   letters under `/_gateway/` (local only, not an AWS API), and redrives dead letters.
//! - [`console`] is a page at `/_gateway/console` that drives all of the above from a browser.
//! - [`store`] picks the embedded store or DynamoDB (creating the table when missing); the
//!   offline SDK configuration every client uses is the runtime's `aws::local_sdk_config`.
//! - [`error`] maps every failure onto the AWS-shaped error body its API would send.
//! - [`config`] holds the options: stage, limits, and the names in ARNs; [`authorization`]
//!   the identity provider, the subscribe policy and hook, read as the deployed functions read
//!   their environment.
//!
//! Imports follow the data: the routers depend on [`state`], [`integration`] and the modules
//! below them, and nothing below imports back up.

pub mod authorization;
pub mod aws_json;
pub mod body_deadline;
pub mod client;
pub mod config;
pub mod connections;
pub mod console;
pub mod error;
pub mod eventbridge;
pub mod functions;
pub mod identity;
pub mod ids;
pub mod integration;
pub mod introspect;
pub mod lambda;
pub mod local_only;
pub mod queues;
pub mod registry;
pub mod sqs;
pub mod state;
pub mod store;
pub mod throttle;
pub mod virtual_connections;
pub mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use config::{GatewayConfig, Limits, QueueSettings, Throttle};
pub use error::GatewayError;
pub use registry::Registry;
pub use state::AppState;

/// The whole gateway: one router per emulated API on the paths AWS uses, behind the checks
/// every request meets first: its host and origin, then its body's deadline. (Layers wrap what
/// is above them, so the last one added runs first.)
pub fn app(state: AppState) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    let own_hosts = Arc::new(local_only::OwnHosts::new(
        state.local_addr(),
        &state.config().allowed_hosts,
    ));
    let body_timeout = state.config().limits.body_timeout;
    Router::new()
        .merge(websocket::router())
        .merge(connections::router(state.clone()))
        .merge(aws_json::router(&state))
        .merge(lambda::router())
        .merge(introspect::router())
        .merge(console::router())
        .fallback(error::not_found)
        .layer(from_fn(error::aws_shaped))
        .layer(from_fn_with_state(
            body_timeout,
            body_deadline::within_deadline,
        ))
        .layer(from_fn(console::redirect_browsers))
        .layer(from_fn_with_state(own_hosts, local_only::only_own_pages))
        .with_state(state)
}

/// How long shutdown waits for open sockets to run `$disconnect`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `state` on `listener` until `shutdown` resolves, then closes every socket (each runs
/// `$disconnect`, as API Gateway does when it drops connections) and returns.
///
/// The accept loop is hyper's own rather than `axum::serve`, for what API Gateway enforces and
/// `axum::serve` cannot: a client must send its request headers within the handshake timeout.
///
/// A connection holds one of `max_pending_connections` slots from its accept until it upgrades
/// to a WebSocket or closes, so every read from it has a deadline: its request headers (the
/// handshake timeout, also between keep-alive requests), then each request's body
/// ([`body_deadline`]); a connection that misses one is closed and its slot freed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = state.registry().clone();
    let pollers = state.start_pollers();
    let stopping = state.clone();
    let header_timeout = state.config().limits.handshake_timeout;
    let pending = Arc::new(tokio::sync::Semaphore::new(
        state.config().limits.max_pending_connections.max(1),
    ));
    let router = app(state);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or similar: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections without a completed handshake; closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, header_timeout).await;
            // Held until the connection upgrades or ends: at the latest, when a request's headers
            // or body miss their deadline.
            drop(permit);
        });
    }
    stopping.queues().stop();
    let _ = pollers.await;
    // Upgraded sockets are no longer hyper's connections: close them here so each runs
    // `$disconnect` before the process ends.
    registry.close_all(1001, "Going away").await;
    registry.wait_idle(SHUTDOWN_GRACE).await;
    Ok(())
}

/// One TCP connection: HTTP/1.1 with upgrades, the peer's address for `ConnectInfo`.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let router = router.clone();
            async move {
                use tower::ServiceExt;
                router.oneshot(request.map(axum::body::Body::new)).await
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
