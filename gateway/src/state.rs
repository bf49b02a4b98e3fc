//! The state every handler shares: the hosted runtime, the deployed functions, the event
//! queues, the live sockets, the account's and the stage's token buckets and the options.
//!
//! Why a module of its own: every emulated API reads it, so it sits below all of them; the
//! crate root only assembles the routers ([`crate::app`]) and serves them ([`crate::serve`]).
//! Built once, before the listener accepts, because the runtime's push client must know the
//! gateway's own address.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use wspush_runtime::config::PushSettings;
use wspush_runtime::store::ConnectionStore;
use wspush_runtime::{Deps, Runtime};

use crate::config::GatewayConfig;
use crate::functions::Functions;
use crate::queues::Queues;
use crate::registry::Registry;
use crate::throttle::{RouteThrottle, TokenBucket};
use crate::virtual_connections::VirtualConnections;

/// Everything the handlers share. Cheap to clone: one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    runtime: Runtime,
    functions: Arc<Functions>,
    queues: Arc<Queues>,
    throttle: Option<TokenBucket>,
    connect_rate: Option<TokenBucket>,
    route_throttle: RouteThrottle,
    registry: Registry,
    virtual_connections: VirtualConnections,
    config: GatewayConfig,
    local_addr: SocketAddr,
}

impl AppState {
    /// Builds the state for a gateway that will listen on `addr`.
    ///
    /// The runtime pushes through the `@connections` API with the client it is deployed with
    /// (`config.push_client`: signed HTTP requests by default, or the SDK), pointed at
    /// this gateway itself (`http://{addr}/{stage}`): the push path is the one used in AWS, so
    /// the address must be known before the runtime is built.
    pub fn new(
        config: GatewayConfig,
        store: Arc<dyn ConnectionStore>,
        jwt_secret: &[u8],
        addr: SocketAddr,
    ) -> Self {
        let queues = Arc::new(Queues::new(&config));
        let runtime = runtime(&config, &queues, store, jwt_secret, addr);
        AppState {
            inner: Arc::new(Shared {
                functions: Arc::new(Functions::new(
                    &runtime,
                    &config.concurrency,
                    &config.pushers,
                )),
                queues,
                throttle: config
                    .throttle
                    .as_ref()
                    .map(|t| TokenBucket::new(t.rate_per_sec, t.burst)),
                connect_rate: config
                    .connect_rate
                    .map(|rate| TokenBucket::new(f64::from(rate), rate)),
                route_throttle: RouteThrottle::new(config.route_throttle.as_ref()),
                runtime,
                registry: Registry::new(),
                virtual_connections: VirtualConnections::new(),
                config,
                local_addr: addr,
            }),
        }
    }

    /// The runtime serving every event kind (its dependencies: the store, the pusher, the
    /// dead-letter sender).
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The deployed functions, each restricted to its own event kinds.
    pub fn functions(&self) -> &Functions {
        &self.inner.functions
    }

    pub fn queues(&self) -> &Queues {
        &self.inner.queues
    }

    /// The account throttle on `@connections`, when configured.
    pub fn throttle(&self) -> Option<&TokenBucket> {
        self.inner.throttle.as_ref()
    }

    /// The account's new-connection quota, when configured.
    pub fn connect_rate(&self) -> Option<&TokenBucket> {
        self.inner.connect_rate.as_ref()
    }

    /// The stage's route throttling on client frames.
    pub fn route_throttle(&self) -> &RouteThrottle {
        &self.inner.route_throttle
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The connection ids with no socket that `@connections` counts pushes for.
    pub fn virtual_connections(&self) -> &VirtualConnections {
        &self.inner.virtual_connections
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The address the gateway listens on: what its clients put in `Host`.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// `http://{addr}`, the gateway's own address: where its queues' URLs point.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.local_addr)
    }

    /// Starts every queue's poller (the SQS event source mappings), each invoking the events
    /// function, until [`Queues::stop`].
    pub(crate) fn start_pollers(&self) -> JoinHandle<()> {
        let queues = self.inner.queues.clone();
        tokio::spawn(queues.poll(self.inner.functions.clone()))
    }
}

/// The runtime as the gateway hosts it: its pusher aimed at this gateway's `@connections`,
/// its dead letters at this gateway's dead-letter queues (SQS `SendMessage`), its planned
/// push batches at this gateway's push queue (SQS `SendMessageBatch`), all signed with the
/// same local credentials.
fn runtime(
    config: &GatewayConfig,
    queues: &Queues,
    store: Arc<dyn ConnectionStore>,
    jwt_secret: &[u8],
    addr: SocketAddr,
) -> Runtime {
    let sdk = wspush_runtime::aws::local_sdk_config(&config.region);
    let endpoint = format!("http://{addr}/{}", config.stage);
    let pusher = wspush_runtime::aws::pusher(&sdk, &endpoint, config.push_client);
    let base_url = format!("http://{addr}");
    let dead_letter_routes = queues.dead_letter_routes(&base_url);
    let push_queue_url = queues.push_queue().url(&base_url);
    let authorization = &config.authorization;
    Runtime::new(Deps {
        store,
        pusher: Some(pusher),
        dead_letters: wspush_runtime::aws::dead_letters(&sdk, dead_letter_routes),
        // The secret always mints test tokens; it verifies them unless switched off.
        tokens: authorization
            .jwt
            .token_keys(Some(jwt_secret), config.provider_keys.clone()),
        access: Arc::new(wspush_runtime::aws::subscribe_access(
            &sdk,
            &authorization.access,
        )),
        token_leeway_secs: authorization.jwt.leeway_secs,
        record_ttl: config.record_ttl,
        push: PushSettings {
            concurrency: config.push_concurrency,
            ..PushSettings::default()
        },
        push_queue: wspush_runtime::aws::push_queue(&sdk, Some(push_queue_url)),
        plan: config.plan,
        history: config.history,
        // The gateway plays the CreateTestJwt function too.
        test_tokens_enabled: true,
    })
}
