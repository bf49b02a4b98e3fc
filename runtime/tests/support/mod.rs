//! Test support: fixtures shaped like real AWS events, and fakes of AWS APIs that speak the
//! real wire protocol (`@connections` here, DynamoDB in [`fake_dynamodb`]) so the production
//! SDK clients are what gets tested.
#![allow(dead_code)]

pub mod fake_dynamodb;
pub mod runtime_api;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;
use wspush_runtime::access::SubscribeAccess;
use wspush_runtime::auth::{ClaimRules, TokenKeys};
use wspush_runtime::config::PushClient;
use wspush_runtime::config::PushSettings;
use wspush_runtime::push::Pusher;
use wspush_runtime::store::ConnectionStore;
use wspush_runtime::{aws, Deps, Runtime};

pub const SECRET: &[u8] = b"test-secret-for-wspush";

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn keys() -> TokenKeys {
    TokenKeys::new(SECRET, ClaimRules::default())
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Default)]
struct Recorded {
    /// Scripted statuses per connection id, consumed one per request; 200 once exhausted.
    script: HashMap<String, VecDeque<u16>>,
    /// Bodies accepted (status 200) per connection id.
    delivered: HashMap<String, Vec<Bytes>>,
    /// Every request seen per connection id, whatever the answer.
    attempts: HashMap<String, usize>,
}

/// An axum app served on 127.0.0.1:0 until dropped: the fakes of AWS APIs run on it.
pub struct Served {
    /// `http://127.0.0.1:{port}`
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Served {
    pub async fn start(app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a fake AWS API");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            url,
            shutdown: Some(tx),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fake API Gateway Management API on 127.0.0.1:0. Stops when dropped.
pub struct FakeConnections {
    pub endpoint: String,
    state: Arc<Mutex<Recorded>>,
    _served: Served,
}

fn aws_error(status: u16, kind: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [
            ("x-amzn-ErrorType", kind),
            ("content-type", "application/json"),
        ],
        format!(r#"{{"message":"{kind} from fake"}}"#),
    )
        .into_response()
}

async fn post_to_connection(
    State(state): State<Arc<Mutex<Recorded>>>,
    Path((_stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut recorded = state.lock().expect("fake state lock");
    *recorded.attempts.entry(id.clone()).or_default() += 1;
    let status = recorded
        .script
        .get_mut(&id)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    match status {
        200 => {
            recorded.delivered.entry(id).or_default().push(body);
            StatusCode::OK.into_response()
        }
        410 => aws_error(410, "GoneException"),
        429 => aws_error(429, "LimitExceededException"),
        403 => aws_error(403, "ForbiddenException"),
        other => aws_error(other, "InternalServerErrorException"),
    }
}

impl FakeConnections {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route("/{stage}/@connections/{id}", post(post_to_connection))
            .with_state(state.clone());
        let served = Served::start(app).await;
        Self {
            endpoint: format!("{}/production", served.url),
            state,
            _served: served,
        }
    }

    /// Answers the next requests for `connection_id` with `statuses`, then 200.
    pub fn script(&self, connection_id: &str, statuses: &[u16]) {
        self.state.lock().expect("fake state lock").script.insert(
            connection_id.to_string(),
            statuses.iter().copied().collect(),
        );
    }

    pub fn delivered(&self, connection_id: &str) -> Vec<Value> {
        self.state
            .lock()
            .expect("fake state lock")
            .delivered
            .get(connection_id)
            .map(|bodies| {
                bodies
                    .iter()
                    .map(|b| serde_json::from_slice(b).expect("pushed frame is JSON"))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn attempts(&self, connection_id: &str) -> usize {
        self.state
            .lock()
            .expect("fake state lock")
            .attempts
            .get(connection_id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_delivered(&self) -> usize {
        self.state
            .lock()
            .expect("fake state lock")
            .delivered
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// Fast retries for tests: the backoff's shape is the same, only shorter.
pub fn quick_push_settings() -> PushSettings {
    PushSettings {
        concurrency: 8,
        max_attempts: 4,
        backoff_base: Duration::from_millis(2),
        backoff_cap: Duration::from_millis(20),
        ..PushSettings::default()
    }
}

/// Both push clients the runtime can be deployed with, pointed at `endpoint`: every pusher
/// test runs against each.
pub fn pushers(endpoint: &str) -> [(PushClient, Arc<dyn Pusher>); 2] {
    let sdk = aws::local_sdk_config("us-east-1");
    [PushClient::SignedHttp, PushClient::Sdk]
        .map(|client| (client, aws::pusher(&sdk, endpoint, client)))
}

/// A runtime over `store`, pushing to `connections` with the deployed default client.
pub async fn runtime(
    store: Arc<dyn ConnectionStore>,
    connections: &FakeConnections,
    test_tokens_enabled: bool,
) -> Runtime {
    let sdk = aws::local_sdk_config("us-east-1");
    Runtime::new(Deps {
        store,
        pusher: Some(aws::pusher(
            &sdk,
            &connections.endpoint,
            PushClient::default(),
        )),
        dead_letters: None,
        tokens: Some(keys()),
        access: Arc::new(SubscribeAccess::allow_all()),
        token_leeway_secs: 30,
        record_ttl: Duration::from_secs(3 * 3600),
        push: quick_push_settings(),
        push_queue: None,
        plan: wspush_runtime::config::PlanSettings::default(),
        history: wspush_runtime::config::default_retention(),
        test_tokens_enabled,
    })
}

/// The connection ids of a store's recipients, in its order.
pub fn ids(recipients: Vec<wspush_runtime::store::Recipient>) -> Vec<String> {
    recipients.into_iter().map(|r| r.connection_id).collect()
}

/// A client for the DynamoDB Local that `scripts/test.sh` starts.
pub fn dynamodb_local() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!("DYNAMODB_ENDPOINT is not set: run scripts/test.sh, which installs and starts DynamoDB Local")
    });
    wspush_runtime::aws::dynamodb_client(
        &wspush_runtime::aws::local_sdk_config("us-east-1"),
        &endpoint,
    )
}

/// A store on a new table of its own, with DynamoDB's own page size (1 MB).
pub async fn fresh_table(table: &str) -> wspush_runtime::store::DynamoStore {
    let table = format!("{table}-{}", uuid::Uuid::new_v4().simple());
    let store = wspush_runtime::store::DynamoStore::new(dynamodb_local(), table, "GSI1");
    store.ensure_table().await.expect("create table");
    store
        .ensure_table()
        .await
        .expect("creating twice is a no-op");
    store
}
