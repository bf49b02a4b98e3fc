//! A wire-level fake of the Lambda Runtime API (and of Secrets Manager's `GetSecretValue`),
//! on 127.0.0.1:0, for running the real `bootstrap` binary as Lambda runs it.
//!
//! Shared by the native test (`tests/lambda_runtime_api.rs`) and by the artifact check and
//! init-time bench (`examples/lambda_boot.rs`, which includes this file by path), so the arm64
//! binary under qemu meets exactly the fake the native binary is tested against.
//!
//! Besides the answers, it records when the runtime first asked for `/next`: the end of the
//! function's init phase as Lambda sees it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};

/// The function ARN the fake hands out with every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:CreateTestJwt";

/// What the runtime posted back for one request id.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub request_id: String,
    /// `response` or `error`, after the Runtime API path it was posted to.
    pub kind: &'static str,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<(String, Value)>,
    answers: Vec<Answer>,
    first_next: Option<Instant>,
    init_errors: Vec<Value>,
    /// `(SecretId, SecretString)` served by the Secrets Manager fake, when set.
    secret: Option<(String, String)>,
    secret_fetches: usize,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    /// Wakes waiting `/next` long-polls when an event is queued.
    queued: Arc<Notify>,
    /// Wakes [`RuntimeApi::wait`] when anything is recorded.
    recorded: Arc<Notify>,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic elsewhere cannot leave `Inner` half-updated: every update is one push or set.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }
}

/// The running fake. [`RuntimeApi::stop`] shuts it down; dropping it does too.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn next_invocation(State(shared): State<Shared>) -> Response {
    shared.with(|inner| {
        inner.first_next.get_or_insert_with(Instant::now);
    });
    shared.recorded.notify_waiters();
    loop {
        // Register interest before looking, so an event queued in between is not missed.
        let queued = shared.queued.notified();
        if let Some((id, event)) = shared.with(|inner| inner.events.pop_front()) {
            let deadline = (chrono::Utc::now().timestamp_millis() + 30_000).to_string();
            let headers = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline),
                ("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into()),
                ("content-type", "application/json".to_string()),
            ];
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        queued.await;
    }
}

fn record(shared: &Shared, request_id: String, kind: &'static str, body: &Bytes) -> StatusCode {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    shared.with(|inner| {
        inner.answers.push(Answer {
            request_id,
            kind,
            body,
        })
    });
    shared.recorded.notify_waiters();
    StatusCode::ACCEPTED
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    record(&shared, id, "response", &body)
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    record(&shared, id, "error", &body)
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.with(|inner| inner.init_errors.push(body));
    shared.recorded.notify_waiters();
    StatusCode::ACCEPTED
}

/// Secrets Manager speaks AWS JSON 1.1 on `POST /`.
async fn secrets_manager(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let secret = shared.with(|inner| {
        let (id, secret) = inner.secret.clone()?;
        if target != "secretsmanager.GetSecretValue" || request["SecretId"] != id.as_str() {
            return None;
        }
        inner.secret_fetches += 1;
        Some((id, secret))
    });
    let Some((id, secret)) = secret else {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"__type": "ResourceNotFoundException",
                   "message": format!("unexpected {target} {request}")})
            .to_string(),
        )
            .into_response();
    };
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{id}-AbCdEf"),
               "Name": id, "SecretString": secret, "VersionId": "v1"})
        .to_string(),
    )
        .into_response()
}

impl RuntimeApi {
    /// Starts the fake on 127.0.0.1:0.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Shared {
            inner: Arc::default(),
            queued: Arc::default(),
            recorded: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/", post(secrets_manager))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    /// Serves `secret` as the `SecretString` of `secret_id` on `POST /`.
    pub fn serve_secret(&self, secret_id: &str, secret: &str) {
        self.shared
            .with(|inner| inner.secret = Some((secret_id.into(), secret.into())));
    }

    /// Queues one invocation.
    pub fn invoke(&self, request_id: &str, event: Value) {
        self.shared
            .with(|inner| inner.events.push_back((request_id.into(), event)));
        self.shared.queued.notify_waiters();
    }

    /// The environment Lambda gives a function, pointing at this fake (Runtime API and, through
    /// `AWS_ENDPOINT_URL`, Secrets Manager).
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "CreateTestJwt".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/CreateTestJwt".into(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL", format!("http://{}", self.addr)),
        ]
        .into()
    }

    /// When the runtime first asked for `/next`, if it has.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.with(|inner| inner.first_next)
    }

    pub fn answers(&self) -> Vec<Answer> {
        self.shared.with(|inner| inner.answers.clone())
    }

    /// Bodies the runtime posted to `/runtime/init/error`.
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.with(|inner| inner.init_errors.clone())
    }

    pub fn secret_fetches(&self) -> usize {
        self.shared.with(|inner| inner.secret_fetches)
    }

    /// Waits until `done` holds for the fake's records or `limit` passes; returns whether it
    /// held.
    pub async fn wait(&self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let recorded = self.shared.recorded.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(until, recorded).await.is_err() {
                return done(self);
            }
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            // The long-polling `/next` of a killed runtime would hold graceful shutdown open.
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
