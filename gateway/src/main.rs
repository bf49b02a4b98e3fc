//! `wspush-gateway`: the whole push service on 127.0.0.1, one port, one command.
//!
//! Options → store → bind → banner → serve until Ctrl-C (or SIGTERM). The banner's first line,
//! `listening on 127.0.0.1:PORT`, is for scripts and tests (`--port 0` picks a free port).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use wspush_contract::{defaults, event_queue, limits, push_queue};
use wspush_gateway::authorization::{self, AuthorizationArgs};
use wspush_gateway::config::{MAX_CLIENT_BUFFER_BYTES, MAX_INVOCATIONS_PER_CONNECTION};
use wspush_gateway::functions::{Concurrency, Pushers};
use wspush_gateway::identity::{self, IdentitySource};
use wspush_gateway::local_only;
use wspush_gateway::store::StoreChoice;
use wspush_gateway::{GatewayConfig, Limits, QueueSettings, Throttle};
use wspush_runtime::config::{PlanSettings, PushClient};
use wspush_runtime::store::Retention;

/// The local gateway: API Gateway WebSocket + @connections, EventBridge PutEvents and Lambda
/// Invoke (CreateTestJwt) on one port, hosting the push service's runtime in-process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 for everything (0 picks a free one).
    #[arg(long, env = "WSPUSH_PORT", default_value_t = 3001)]
    port: u16,
    /// HS256 secret for tokens. Default: a random secret for this run only.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Stage name in URLs: ws://127.0.0.1:PORT/STAGE.
    #[arg(long, env = "WSPUSH_STAGE", default_value = defaults::STAGE)]
    stage: String,
    /// Use DynamoDB at this endpoint (e.g. DynamoDB Local) instead of the embedded store.
    #[arg(long, env = "WSPUSH_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// DynamoDB table (created when missing).
    #[arg(long, env = "WSPUSH_TABLE", default_value = defaults::TABLE_NAME)]
    table: String,
    /// DynamoDB index on GSI1PK/GSI1SK.
    #[arg(long, env = "WSPUSH_INDEX", default_value = defaults::INDEX_NAME)]
    index: String,
    /// Region in ARNs, events and SDK signing.
    #[arg(long, env = "WSPUSH_REGION", default_value = "us-east-1")]
    region: String,
    /// Largest client frame; larger closes with 1009.
    #[arg(long, env = "WSPUSH_MAX_FRAME_BYTES", default_value_t = limits::MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Largest client message or @connections POST.
    #[arg(long, env = "WSPUSH_MAX_MESSAGE_BYTES", default_value_t = limits::MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Seconds without a client frame before the socket is closed.
    #[arg(long, env = "WSPUSH_IDLE_TIMEOUT_SECS", default_value_t = limits::IDLE_TIMEOUT_SECS)]
    idle_timeout_secs: u64,
    /// Maximum seconds a connection lives.
    #[arg(long, env = "WSPUSH_MAX_CONNECTION_SECS", default_value_t = limits::MAX_CONNECTION_SECS)]
    max_connection_secs: u64,
    /// PostToConnection calls in flight per event.
    #[arg(long, env = "WSPUSH_PUSH_CONCURRENCY", default_value_t = defaults::PUSH_CONCURRENCY)]
    push_concurrency: usize,
    /// How the runtime reaches @connections: signed-http (default, as deployed) or sdk (the
    /// SDK client; the fan-out bench's comparison).
    #[arg(long, env = "WSPUSH_PUSH_CLIENT", default_value = "signed-http")]
    push_client: PushClient,
    /// An identity source of the authorizer (repeatable). Default: the deployed ones
    /// (wspush_contract::authorizer::IDENTITY_SOURCES). `--identity-source ""` lists none.
    #[arg(
        long = "identity-source",
        env = "WSPUSH_IDENTITY_SOURCES",
        value_delimiter = ','
    )]
    identity_sources: Option<Vec<String>>,
    /// Turn on API Gateway's account throttle on @connections: requests a second (AWS: 10000).
    #[arg(long, env = "WSPUSH_THROTTLE_RPS")]
    throttle_rps: Option<f64>,
    /// The throttle's burst (AWS: 5000); default: half the rate, as AWS's quota.
    #[arg(long, env = "WSPUSH_THROTTLE_BURST")]
    throttle_burst: Option<u32>,
    /// The stage's default route throttling on client frames: requests a second each route
    /// admits, across all clients (default: the deployed stage's). 0 turns it off.
    #[arg(long, env = "WSPUSH_ROUTE_THROTTLE_RPS", default_value_t = defaults::ROUTE_THROTTLING_RATE_LIMIT)]
    route_throttle_rps: u32,
    /// The route throttling's burst (default: the deployed stage's).
    #[arg(long, env = "WSPUSH_ROUTE_THROTTLE_BURST", default_value_t = defaults::ROUTE_THROTTLING_BURST_LIMIT)]
    route_throttle_burst: u32,
    /// Milliseconds added to every @connections call, as the round trip to AWS would.
    #[arg(long, env = "WSPUSH_CONNECTIONS_LATENCY_MS", default_value_t = 0)]
    connections_latency_ms: u64,
    /// Each @connections call's latency varies by up to this many milliseconds either way.
    #[arg(long, env = "WSPUSH_CONNECTIONS_JITTER_MS", default_value_t = 0)]
    connections_jitter_ms: u64,
    /// Concurrent invocations of each function (authorizer, routes, CreateTestJwt).
    #[arg(long, env = "WSPUSH_FUNCTION_CONCURRENCY", default_value_t = 1000)]
    function_concurrency: usize,
    /// Concurrent batches of the events function (the SQS poller starts with 5).
    #[arg(long, env = "WSPUSH_EVENTS_CONCURRENCY", default_value_t = 5)]
    events_concurrency: usize,
    /// @connections calls a second the pushers share (deployed: PushRateLimit): as many
    /// pushers run at once as it takes at 2,500 a second each, each paced at its share.
    /// Default: the pushers of the deployed default (10,000), unpaced, as the account
    /// throttle is off locally (--throttle-rps).
    #[arg(long, env = "WSPUSH_PUSH_RATE_LIMIT")]
    push_rate_limit: Option<u32>,
    /// Recipients above which an event is planned into push batches on the push queue for
    /// the pushers, instead of being pushed by the events function itself.
    #[arg(long, env = "WSPUSH_PLAN_THRESHOLD", default_value_t = defaults::PUSH_PLAN_THRESHOLD)]
    plan_threshold: usize,
    /// Connection ids per push batch (one push-queue message), at most 5,000.
    #[arg(long, env = "WSPUSH_PUSH_BATCH_CONNECTIONS", default_value_t = defaults::PUSH_BATCH_CONNECTIONS)]
    push_batch_connections: usize,
    /// Index keys each entity's subscriptions are spread over, 1 to 64 (DynamoDB store only:
    /// the embedded store has no partitions).
    #[arg(long, env = "WSPUSH_INDEX_SHARDS", default_value_t = defaults::INDEX_SHARDS)]
    index_shards: u32,
    /// Seconds a received event stays invisible before a failed one is received again.
    /// Default: the deployed queue's (6x the events function's timeout).
    #[arg(long, env = "WSPUSH_VISIBILITY_TIMEOUT_SECS", default_value_t = event_queue::VISIBILITY_TIMEOUT_SECS)]
    visibility_timeout_secs: u64,
    /// Bytes waiting for one client before @connections answers 429 and replies to the
    /// client's own frames are dropped (counted in /_gateway/connections).
    #[arg(long, env = "WSPUSH_MAX_CLIENT_BUFFER_BYTES", default_value_t = MAX_CLIENT_BUFFER_BYTES)]
    max_client_buffer_bytes: usize,
    /// Route invocations one connection may have running; its further frames wait unread.
    #[arg(long, env = "WSPUSH_MAX_INVOCATIONS_PER_CONNECTION", default_value_t = MAX_INVOCATIONS_PER_CONNECTION)]
    max_invocations_per_connection: usize,
    /// Seconds a client may take to send its handshake request headers.
    #[arg(long, env = "WSPUSH_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    handshake_timeout_secs: u64,
    /// Seconds a client may take to send a request's body once its headers are in (then 408,
    /// and the connection is closed).
    #[arg(long, env = "WSPUSH_BODY_TIMEOUT_SECS", default_value_t = 10)]
    body_timeout_secs: u64,
    /// A name besides 127.0.0.1, localhost and [::1] that requests may carry in Host
    /// (repeatable): NAME for any port, NAME:PORT for one. Others get 403 (DNS rebinding).
    #[arg(
        long = "allowed-host",
        env = "WSPUSH_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Emulate the account's quota of new connections a second (AWS: 500, adjustable).
    /// Off by default: local benches open thousands of connections at once.
    #[arg(long, env = "WSPUSH_CONNECT_RATE")]
    connect_rate: Option<u32>,
    /// TCP connections not yet upgraded to WebSockets, at most (more are closed at once).
    #[arg(long, env = "WSPUSH_MAX_PENDING_CONNECTIONS", default_value_t = 4096)]
    max_pending_connections: usize,
    /// Seconds each stream keeps a message for resume and `history` (deployed: 60 s to a
    /// week; shorter here, to see a resume past retention fail).
    #[arg(long, env = "WSPUSH_HISTORY_RETENTION_SECS", default_value_t = defaults::HISTORY_RETENTION_SECONDS)]
    history_retention_secs: u64,
    /// Messages each stream keeps at most; 0 switches streams off (no `streamId`/`serial`).
    #[arg(long, env = "WSPUSH_HISTORY_MAX_MESSAGES", default_value_t = defaults::HISTORY_MAX_MESSAGES)]
    history_max_messages: u64,
    #[command(flatten)]
    authorization: AuthorizationArgs,
}

impl Args {
    /// The options, checked as a whole first, then assembled group by group.
    fn config(&self) -> anyhow::Result<GatewayConfig> {
        self.validate()?;
        let defaults = GatewayConfig::default();
        let identity_sources = self.identity_sources(&defaults)?;
        let throttle = self.throttle()?;
        Ok(GatewayConfig {
            stage: self.stage.clone(),
            region: self.region.clone(),
            limits: self.limits(),
            push_concurrency: self.push_concurrency,
            push_client: self.push_client,
            callers: callers(defaults.callers.clone()),
            identity_sources,
            queues: self.queues(&defaults),
            concurrency: Concurrency {
                per_function: self.function_concurrency,
                events: self.events_concurrency,
            },
            pushers: self
                .push_rate_limit
                .map(Pushers::sharing)
                .unwrap_or_default(),
            plan: PlanSettings {
                threshold: self.plan_threshold,
                batch_connections: self.push_batch_connections,
            },
            throttle,
            route_throttle: self.route_throttle(),
            connections_latency: Duration::from_millis(self.connections_latency_ms),
            connections_jitter: Duration::from_millis(self.connections_jitter_ms),
            connect_rate: self.connect_rate.filter(|r| *r > 0),
            allowed_hosts: self.allowed_hosts()?,
            authorization: self.authorization.settings(&self.region)?,
            history: Retention {
                secs: self.history_retention_secs,
                max_messages: self.history_max_messages,
            },
            ..defaults
        })
    }

    /// Refuses the values no deployment could have: empty limits, no concurrency, a stage name
    /// API Gateway would not accept.
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_frame_bytes > 0,
            "--max-frame-bytes must be above 0"
        );
        anyhow::ensure!(
            self.max_message_bytes >= self.max_frame_bytes,
            "--max-message-bytes must be at least --max-frame-bytes"
        );
        anyhow::ensure!(
            self.idle_timeout_secs > 0,
            "--idle-timeout-secs must be above 0"
        );
        anyhow::ensure!(
            self.max_connection_secs > 0,
            "--max-connection-secs must be above 0"
        );
        anyhow::ensure!(
            self.push_concurrency > 0,
            "--push-concurrency must be above 0"
        );
        anyhow::ensure!(
            !self.stage.is_empty()
                && self
                    .stage
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "--stage must be letters, digits, '-' or '_'"
        );
        anyhow::ensure!(
            self.function_concurrency > 0 && self.events_concurrency > 0,
            "--function-concurrency and --events-concurrency must be above 0"
        );
        anyhow::ensure!(
            self.handshake_timeout_secs > 0 && self.body_timeout_secs > 0,
            "--handshake-timeout-secs and --body-timeout-secs must be above 0"
        );
        anyhow::ensure!(
            self.route_throttle_burst > 0,
            "--route-throttle-burst must be above 0"
        );
        anyhow::ensure!(
            self.max_invocations_per_connection > 0,
            "--max-invocations-per-connection must be above 0"
        );
        self.validate_push_plan()?;
        anyhow::ensure!(
            (1..=defaults::HISTORY_MAX_RETENTION_SECONDS).contains(&self.history_retention_secs),
            "--history-retention-secs must be from 1 to {}",
            defaults::HISTORY_MAX_RETENTION_SECONDS
        );
        anyhow::ensure!(
            self.history_max_messages <= defaults::HISTORY_MAX_MESSAGES_LIMIT,
            "--history-max-messages must be from 0 (streams off) to {}",
            defaults::HISTORY_MAX_MESSAGES_LIMIT
        );
        Ok(())
    }

    /// The push rate, the planner's threshold and batch size, and the index shards within
    /// the bounds a deployment allows.
    fn validate_push_plan(&self) -> anyhow::Result<()> {
        let most_rate = push_queue::MAX_PUSHERS * push_queue::RATE_PER_PUSHER;
        if let Some(rate) = self.push_rate_limit {
            anyhow::ensure!(
                (1..=most_rate).contains(&rate),
                "--push-rate-limit must be from 1 to {most_rate} calls a second ({} pushers \
                 at {} each)",
                push_queue::MAX_PUSHERS,
                push_queue::RATE_PER_PUSHER
            );
        }
        anyhow::ensure!(self.plan_threshold > 0, "--plan-threshold must be above 0");
        anyhow::ensure!(
            (1..=defaults::PUSH_BATCH_CONNECTIONS_LIMIT).contains(&self.push_batch_connections),
            "--push-batch-connections must be from 1 to {}",
            defaults::PUSH_BATCH_CONNECTIONS_LIMIT
        );
        anyhow::ensure!(
            (1..=defaults::INDEX_SHARDS_LIMIT).contains(&self.index_shards),
            "--index-shards must be from 1 to {}",
            defaults::INDEX_SHARDS_LIMIT
        );
        Ok(())
    }

    /// API Gateway's WebSocket limits.
    fn limits(&self) -> Limits {
        Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_message_bytes: self.max_message_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connection: Duration::from_secs(self.max_connection_secs),
            max_client_buffer_bytes: self.max_client_buffer_bytes,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            max_pending_connections: self.max_pending_connections.max(1),
            max_invocations_per_connection: self.max_invocations_per_connection,
        }
    }

    /// The authorizer's identity sources: the deployed ones unless listed (an empty entry
    /// lists none).
    fn identity_sources(&self, defaults: &GatewayConfig) -> anyhow::Result<Vec<IdentitySource>> {
        match &self.identity_sources {
            None => Ok(defaults.identity_sources.clone()),
            Some(list) => {
                let list: Vec<&String> = list.iter().filter(|s| !s.trim().is_empty()).collect();
                identity::parse_all(&list).map_err(|e| anyhow::anyhow!("--identity-source: {e}"))
            }
        }
    }

    /// The `--allowed-host` names, lower-case: a host name or `host:port`, nothing more.
    fn allowed_hosts(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for name in self
            .allowed_hosts
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
        {
            anyhow::ensure!(
                local_only::is_authority(name),
                "--allowed-host {name:?}: give a host name or host:port, without scheme or path"
            );
            names.push(name.to_ascii_lowercase());
        }
        Ok(names)
    }

    /// The account throttle on `@connections`: off unless a rate or a burst is given.
    fn throttle(&self) -> anyhow::Result<Option<Throttle>> {
        let (rate, burst) = match (self.throttle_rps, self.throttle_burst) {
            (None, None) => return Ok(None),
            pair => pair,
        };
        let rate = rate.unwrap_or(Throttle::aws_default().rate_per_sec);
        anyhow::ensure!(rate > 0.0, "--throttle-rps must be above 0");
        let burst = burst.unwrap_or((rate / 2.0).max(1.0) as u32);
        anyhow::ensure!(burst > 0, "--throttle-burst must be above 0");
        Ok(Some(Throttle {
            rate_per_sec: rate,
            burst,
        }))
    }

    /// The stage's route throttling: the rate and burst given, off at rate 0.
    fn route_throttle(&self) -> Option<Throttle> {
        (self.route_throttle_rps > 0).then(|| Throttle {
            rate_per_sec: f64::from(self.route_throttle_rps),
            burst: self.route_throttle_burst,
        })
    }

    /// The event queues: the deployed settings, with the visibility timeout as given.
    fn queues(&self, defaults: &GatewayConfig) -> QueueSettings {
        QueueSettings {
            visibility_timeout: Duration::from_secs(self.visibility_timeout_secs),
            ..defaults.queues.clone()
        }
    }

    fn store(&self) -> StoreChoice {
        match &self.dynamodb_endpoint {
            Some(endpoint) if !endpoint.trim().is_empty() => StoreChoice::DynamoDb {
                endpoint: endpoint.trim().to_string(),
                table: self.table.clone(),
                index: self.index.clone(),
                index_shards: self.index_shards,
            },
            _ => StoreChoice::Embedded,
        }
    }
}

/// jemalloc, with its background purging on: glibc's malloc keeps the heap that thousands of
/// connections grow long after they close; jemalloc's decay returns it to the system (figures
/// in the README, "Under load and faults").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Purge freed pages in the background, so an idle gateway gives memory back too.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("jemalloc background purging is off ({e}); memory is returned only under load");
    }
    // Logs go to stderr, so stdout holds only the banner scripts read.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();

    let mut config = args.config()?;
    config.provider_keys = authorization::provider_keys(&config.authorization.jwt).await?;
    let choice = args.store();
    let store = wspush_gateway::store::build(&choice, &config.region)
        .await
        .context("the store is not ready (is DynamoDB Local running at that endpoint?)")?;
    let (secret, random_secret) = match &args.jwt_secret {
        Some(secret) if !secret.is_empty() => (secret.clone(), false),
        _ => (random_secret(), true),
    };

    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{} (try --port 0)", args.port))?;
    let addr = listener.local_addr()?;
    let state = wspush_gateway::AppState::new(config.clone(), store, secret.as_bytes(), addr);
    let token = mint_token(&state).await?;
    print_banner(&config, &choice, addr, &token, random_secret);
    println!(
        "\nWho may read what: {}.",
        authorization::describe(&config.authorization, config.provider_keys.as_deref())
    );

    wspush_gateway::serve(listener, state, shutdown_signal()).await?;
    eprintln!("wspush-gateway stopped");
    Ok(())
}

fn random_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Mints the banner's token through the same path `aws lambda invoke` takes.
async fn mint_token(state: &wspush_gateway::AppState) -> anyhow::Result<String> {
    let answer = state
        .functions()
        .test_token
        .invoke(serde_json::json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("could not mint a test token: {e}"))?;
    answer
        .get("token")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .context("the token function answered without a token")
}

fn print_banner(
    config: &GatewayConfig,
    store: &StoreChoice,
    addr: SocketAddr,
    token: &str,
    random_secret: bool,
) {
    let stage = &config.stage;
    let http = format!("http://{addr}");
    let ws = format!("ws://{addr}/{stage}");
    let secret_note = if random_secret {
        " (signed with a random secret for this run; pass --jwt-secret or JWT_SECRET to keep tokens valid across restarts)"
    } else {
        ""
    };
    println!(
        "listening on {addr}

wspush local gateway, stage {stage}, store: {store}
  WebSocket      {ws}   (also ws://{addr}/)
  @connections   {http}/{stage}/@connections/{{connectionId}}
  EventBridge    {http}   (PutEvents)
  SQS            {http}/{account}/push   (the push queue: SendMessage, SendMessageBatch)
  Lambda         {http}   (Invoke CreateTestJwt)
  Console        {http}{console}   (open it in a browser)

Test token, valid one hour{secret_note}:
  {token}

Connect (token in the query string, or as a subprotocol as browsers send it):
  wscat -c \"{ws}?access_token={token}\"
  wscat -c \"{ws}\" -s websocket -s {token}
then send: {{\"action\":\"subscribe\",\"entityId\":\"myEntityId\"}}

Publish and mint with the aws CLI (any dummy credentials):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={region}
  aws events put-events --endpoint-url {http} --entries file://examples/entity-updated.json
  aws events put-events --endpoint-url {http} --entries file://examples/send-user-push-notification.json
  aws lambda invoke --endpoint-url {http} --function-name CreateTestJwt response.json

Local views: {http}/_gateway/connections, /_gateway/functions, /_gateway/queues, /_gateway/dead-letters

{limits} Ctrl-C stops.",
        store = store.describe(),
        console = wspush_gateway::console::PATH,
        region = config.region,
        account = config.account_id,
        limits = limits_line(config),
    );
}

/// The banner's last line: the limits, the throttles and the pushers in force.
fn limits_line(config: &GatewayConfig) -> String {
    let limits = &config.limits;
    let routes = match &config.route_throttle {
        Some(t) => format!(
            "route throttling {} req/s, burst {}",
            t.rate_per_sec, t.burst
        ),
        None => "no route throttling".to_string(),
    };
    let throttle = match &config.throttle {
        Some(t) => format!(
            "@connections throttle {} req/s, burst {}",
            t.rate_per_sec, t.burst
        ),
        None => "no @connections throttle (--throttle-rps)".to_string(),
    };
    let pushers = match config.pushers.max_rate {
        Some(rate) => format!("{} pushers at {rate} calls/s each", config.pushers.count),
        None => format!(
            "{} pushers, unpaced (--push-rate-limit)",
            config.pushers.count
        ),
    };
    format!(
        "Limits: frame {} B, message {} B, idle {} s, connection {} s; {routes}; {throttle}; \
         {pushers}.",
        limits.max_frame_bytes,
        limits.max_message_bytes,
        limits.idle_timeout.as_secs(),
        limits.max_connection.as_secs(),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    eprintln!("shutting down: closing sockets (each runs $disconnect)");
}

/// The callers `@connections` can verify: the runtime's key, and the key in this process's
/// environment, so the aws CLI or an SDK run from the same shell is verified too.
fn callers(mut keys: Vec<(String, String)>) -> Vec<(String, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        keys.retain(|(known, _)| *known != id);
        keys.push((id, secret));
    }
    keys
}
