//! The local gateway: the whole push service on one machine, one port, no AWS account.
//!
//! It hosts the runtime's [`wspush_runtime::Runtime`] in-process and speaks the wire protocols
//! of the AWS services around it, so the clients and commands that work against AWS (wscat,
//! browsers, `aws events put-events`, `aws lambda invoke`, the SDK's `@connections` client)
//! work here unchanged. A tour, in the order a request travels:
//!
//! - [`app`] builds the one [`axum::Router`] from one router per emulated API, and [`serve`]
//!   runs it on a listener the caller bound (tests bind port 0).
//! - [`websocket`] is API Gateway's WebSocket side: the `$connect` handshake runs the runtime's
//!   REQUEST authorizer *before* upgrading, then the `$connect` route; frames are routed by
//!   `$request.body.action`; every close runs `$disconnect`. Event shapes live in [`apigw`].
//! - [`registry`] holds the live sockets by connection id; it is what `@connections` talks to.
//! - [`connections`] is the `@connections` management API (POST, GET, DELETE), reached by the
//!   runtime through its ordinary `aws-sdk-apigatewaymanagement` client pointed at this server.
//! - [`eventbridge`] is `PutEvents`: rules on `detail-type` as deployed, delivering each event
//!   to the runtime the way the deployed pipeline does (inside an SQS record).
//! - [`lambda`] is `Invoke` for the `CreateTestJwt` function.
//! - [`introspect`] lists open connections and their subscriptions under `/_gateway/` (local
//!   only, not an AWS API).
//! - [`console`] is a page at `/_gateway/console` that drives all of the above from a browser.
//! - [`store`] picks the embedded store or DynamoDB (creating the table when missing); the
//!   offline SDK configuration every client uses is the runtime's `aws::local_sdk_config`.
//! - [`error`] maps every failure onto the AWS-shaped error body its API would send.
//! - [`config`] holds the options: stage, limits, and the names in ARNs.

pub mod apigw;
pub mod config;
pub mod connections;
pub mod console;
pub mod error;
pub mod eventbridge;
pub mod introspect;
pub mod lambda;
pub mod registry;
pub mod store;
pub mod websocket;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use wspush_runtime::auth::TokenKeys;
use wspush_runtime::config::{JwtSettings, PushSettings};
use wspush_runtime::push::ManagementApiPusher;
use wspush_runtime::store::ConnectionStore;
use wspush_runtime::{Deps, Runtime};

pub use config::{GatewayConfig, Limits};
pub use error::GatewayError;
pub use registry::Registry;

/// Everything the handlers share. Cheap to clone: one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    runtime: Runtime,
    registry: Registry,
    config: GatewayConfig,
}

impl AppState {
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }
}

/// Builds the state for a gateway that will listen on `addr`.
///
/// The runtime pushes through the `@connections` API with the ordinary SDK client, pointed at
/// this gateway itself (`http://{addr}/{stage}`): the push path is the one used in AWS, so the
/// address must be known before the runtime is built.
pub fn state(
    config: GatewayConfig,
    store: Arc<dyn ConnectionStore>,
    jwt_secret: &[u8],
    addr: SocketAddr,
) -> AppState {
    let sdk = wspush_runtime::aws::local_sdk_config(&config.region);
    let endpoint = format!("http://{addr}/{}", config.stage);
    let pusher = ManagementApiPusher::new(wspush_runtime::aws::management_client(&sdk, &endpoint));
    let runtime = Runtime::new(Deps {
        store,
        pusher: Some(Arc::new(pusher)),
        tokens: Some(TokenKeys::new(jwt_secret, JwtSettings::default())),
        record_ttl: config.record_ttl,
        push: PushSettings {
            concurrency: config.push_concurrency,
            ..PushSettings::default()
        },
        // The gateway plays the CreateTestJwt function too.
        test_tokens_enabled: true,
    });
    AppState {
        inner: Arc::new(Shared {
            runtime,
            registry: Registry::new(),
            config,
        }),
    }
}

/// The whole gateway: one router per emulated API on the paths AWS uses.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(websocket::router())
        .merge(connections::router())
        .merge(eventbridge::router())
        .merge(lambda::router())
        .merge(introspect::router())
        .merge(console::router())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(console::redirect_browsers))
        .with_state(state)
}

/// How long shutdown waits for open sockets to run `$disconnect`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `state` on `listener` until `shutdown` resolves, then closes every socket (each runs
/// `$disconnect`, as API Gateway does when it drops connections) and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = state.registry().clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let router = app(state);
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let closer = async move {
        let mut stop_rx = stop_rx;
        // Upgraded sockets are no longer hyper's connections, so graceful shutdown does not
        // wait for them: close them here so each runs `$disconnect` before the process ends.
        if stop_rx.wait_for(|stop| *stop).await.is_ok() {
            registry.close_all(1001, "Going away").await;
            registry.wait_idle(SHUTDOWN_GRACE).await;
        }
    };
    let (served, ()) = tokio::join!(server.into_future(), closer);
    served
}
