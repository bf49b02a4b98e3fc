//! The runtime's SDK clients against endpoints that misbehave at the TCP level: one that
//! accepts connections and never answers (a frozen DynamoDB, a stalled `@connections`), and a
//! healthy one that counts the connections it is given. The clients are the ones the Lambda
//! builds (`aws::dynamodb_client`, `aws::pusher` with either push client), so this is what a stalled
//! dependency does to a handler: a clear timeout error well inside the function's own limit,
//! and pushes that reuse pooled connections.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use axum::extract::ConnectInfo;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wspush_contract::timeouts;
use wspush_runtime::aws;
use wspush_runtime::config::PushClient;
use wspush_runtime::push::PushOutcome;
use wspush_runtime::store::{ConnectionStore, DynamoStore, StoreError};

/// Far above every configured timeout: only a client with no timeout at all gets near it.
const CEILING: Duration = Duration::from_secs(30);

/// Accepts TCP connections on 127.0.0.1:0 and holds them open without reading or writing.
struct Silent {
    url: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            url,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn clients_carry_the_contract_timeouts() {
    let sdk = aws::local_sdk_config("us-east-1");
    let dynamodb = aws::dynamodb_client(&sdk, "http://127.0.0.1:9");
    assert_timeouts(
        dynamodb.config().timeout_config(),
        timeouts::DYNAMODB_OPERATION_MS,
        timeouts::DYNAMODB_ATTEMPT_MS,
    );

    let management = aws::management_client(&sdk, "http://127.0.0.1:9/production");
    assert_timeouts(
        management.config().timeout_config(),
        timeouts::PUSH_ATTEMPT_MS,
        timeouts::PUSH_ATTEMPT_MS,
    );
}

/// The contract's connect timeout, and these operation and attempt timeouts.
fn assert_timeouts(config: Option<&TimeoutConfig>, operation_ms: u64, attempt_ms: u64) {
    let config = config.expect("timeouts set");
    assert_eq!(
        config.connect_timeout(),
        Some(Duration::from_millis(timeouts::CONNECT_MS))
    );
    assert_eq!(
        config.operation_timeout(),
        Some(Duration::from_millis(operation_ms))
    );
    assert_eq!(
        config.operation_attempt_timeout(),
        Some(Duration::from_millis(attempt_ms))
    );
}

#[tokio::test]
async fn a_silent_dynamodb_fails_the_store_call_with_a_timeout() {
    let silent = Silent::start().await;
    let store = DynamoStore::new(
        aws::dynamodb_client(&aws::local_sdk_config("us-east-1"), &silent.url),
        "websocket",
        "GSI1",
    );

    let started = Instant::now();
    let result = tokio::time::timeout(
        CEILING,
        store.put_subscription("R0oXAdfD0kwCH6w=", "entity-1", i64::MAX),
    )
    .await
    .expect("the store call must end on its own timeout");
    let elapsed = started.elapsed();

    match result {
        Err(StoreError::Request { operation, message }) => {
            // A subscribe first counts itself against the connection's cap.
            assert!(operation.starts_with("UpdateItem"), "{operation}");
            assert!(
                message.contains("operation timeout"),
                "the error should say the operation timed out: {message}"
            );
        }
        other => panic!("expected a request error, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(timeouts::DYNAMODB_OPERATION_MS),
        "gave up after {elapsed:?}, before the operation timeout"
    );
    assert!(
        silent.accepted() >= 2,
        "the attempt timeout should end the first attempt and let a retry run inside the \
         operation timeout; connections: {}",
        silent.accepted()
    );
}

#[tokio::test]
async fn a_silent_connections_api_makes_the_push_unavailable() {
    for client in [PushClient::SignedHttp, PushClient::Sdk] {
        let silent = Silent::start().await;
        let pusher = aws::pusher(
            &aws::local_sdk_config("us-east-1"),
            &format!("{}/production", silent.url),
            client,
        );

        let outcome = tokio::time::timeout(
            CEILING,
            pusher.post_to_connection("R0oXAdfD0kwCH6w=", b"{}"),
        )
        .await
        .expect("the push must end on its own timeout");

        match outcome {
            PushOutcome::Unavailable(message) => assert!(
                message.contains("timeout"),
                "{client:?}: the outcome should say the call timed out: {message}"
            ),
            other => panic!("{client:?}: expected Unavailable, got {other:?}"),
        }
        assert_eq!(
            silent.accepted(),
            1,
            "{client:?}: retries are the fan-out's, not the client's: one attempt"
        );
    }
}

/// A healthy `@connections` that records the client address of every request.
async fn counting_connections() -> (String, Arc<Mutex<Vec<SocketAddr>>>, oneshot::Sender<()>) {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    let app = Router::new().route(
        "/production/@connections/{id}",
        post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(peer);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}/production", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await;
    });
    (endpoint, peers, stop)
}

#[tokio::test]
async fn pushes_reuse_pooled_connections() {
    for client in [PushClient::SignedHttp, PushClient::Sdk] {
        pushes_reuse_pooled_connections_with(client).await;
    }
}

async fn pushes_reuse_pooled_connections_with(client: PushClient) {
    let (endpoint, peers, stop) = counting_connections().await;
    let pusher = aws::pusher(&aws::local_sdk_config("us-east-1"), &endpoint, client);
    let pusher = pusher.as_ref();

    for i in 0..20 {
        let outcome = pusher
            .post_to_connection(&format!("conn-{i}="), b"{}")
            .await;
        assert_eq!(outcome, PushOutcome::Delivered);
    }
    let concurrent = futures::future::join_all((0..16).map(|i| async move {
        pusher
            .post_to_connection(&format!("burst-{i}="), b"{}")
            .await
    }))
    .await;
    assert!(concurrent.iter().all(|o| *o == PushOutcome::Delivered));
    let again = futures::future::join_all((0..16).map(|i| async move {
        pusher
            .post_to_connection(&format!("again-{i}="), b"{}")
            .await
    }))
    .await;
    assert!(again.iter().all(|o| *o == PushOutcome::Delivered));
    let _ = stop.send(());

    let peers = peers.lock().expect("lock").clone();
    assert_eq!(peers.len(), 52);
    let sequential: HashSet<_> = peers[..20].iter().collect();
    assert_eq!(
        sequential.len(),
        1,
        "{client:?}: sequential pushes should share one connection"
    );
    let all: HashSet<_> = peers.iter().collect();
    assert!(
        all.len() <= 16,
        "{client:?}: a second burst should reuse the first burst's idle connections; {} \
         connections for 52 pushes",
        all.len()
    );
}
