//! The built `bootstrap` binary against a wire-level fake of the Lambda Runtime API and of
//! Secrets Manager: proves the cold start (configuration, one secret fetch) and the error shapes
//! Lambda reports, through the real `lambda_runtime` loop.

mod support;

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use support::{fixture, keys, now};
use tokio::sync::{oneshot, Notify};

#[derive(Default)]
struct Fake {
    events: VecDeque<(String, Value)>,
    results: Vec<(String, &'static str, Value)>,
    secret_fetches: usize,
}

type Shared = (Arc<Mutex<Fake>>, Arc<Notify>);

async fn next_invocation(State((fake, notify)): State<Shared>) -> Response {
    loop {
        let next = fake.lock().expect("lock").events.pop_front();
        if let Some((id, event)) = next {
            let deadline = (chrono::Utc::now().timestamp_millis() + 30_000).to_string();
            let headers = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:CreateTestJwt".to_string(),
                ),
                ("content-type", "application/json".to_string()),
            ];
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        notify.notified().await;
    }
}

fn record(fake: &Mutex<Fake>, id: String, kind: &'static str, body: &Bytes) -> StatusCode {
    let value = serde_json::from_slice(body).unwrap_or(Value::Null);
    fake.lock().expect("lock").results.push((id, kind, value));
    StatusCode::ACCEPTED
}

async fn response(
    State((fake, _)): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    record(&fake, id, "response", &body)
}

async fn error(State((fake, _)): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    record(&fake, id, "error", &body)
}

/// Secrets Manager speaks AWS JSON 1.1 on `POST /`.
async fn secrets_manager(
    State((fake, _)): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if target != "secretsmanager.GetSecretValue" || request["SecretId"] != "wspush/jwt" {
        return (
            StatusCode::BAD_REQUEST,
            format!("unexpected {target} {request}"),
        )
            .into_response();
    }
    fake.lock().expect("lock").secret_fetches += 1;
    let secret = String::from_utf8_lossy(support::SECRET).to_string();
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wspush/jwt-AbCdEf",
               "Name": "wspush/jwt", "SecretString": secret, "VersionId": "v1"})
        .to_string(),
    )
        .into_response()
}

#[tokio::test]
async fn bootstrap_serves_invocations_through_the_runtime_api() {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let notify = Arc::new(Notify::new());
    let token = keys().mint(&Default::default(), now()).expect("mint");
    let mut authorizer = fixture("authorizer-request.json");
    authorizer["queryStringParameters"]["access_token"] = json!(token);
    let events = [
        ("req-1", json!({"userId": "alice"})),
        ("req-2", fixture("authorizer-request.json")),
        ("req-3", authorizer),
        ("req-4", json!({"Records": [{"eventSource": "aws:s3"}]})),
    ];
    fake.lock()
        .expect("lock")
        .events
        .extend(events.into_iter().map(|(id, e)| (id.to_string(), e)));

    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/", post(secrets_manager))
        .with_state((fake.clone(), notify.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "CreateTestJwt")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/CreateTestJwt")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://{addr}"))
        .env("JWT_SECRET_ID", "wspush/jwt")
        .env("TEST_TOKENS_ENABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start bootstrap");

    let mut results = Vec::new();
    for _ in 0..200 {
        notify.notify_waiters();
        results = fake.lock().expect("lock").results.clone();
        if results.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    let _ = stop.send(());
    let _ = server.await;

    let by_id = |id: &str| {
        results
            .iter()
            .find(|(rid, _, _)| rid == id)
            .map(|(_, kind, value)| (*kind, value.clone()))
            .unwrap_or_else(|| panic!("no result for {id}: {results:?}"))
    };
    let (kind, minted) = by_id("req-1");
    assert_eq!(kind, "response");
    let identity = keys()
        .verify(minted["token"].as_str().expect("token"), now())
        .expect("verifies");
    assert_eq!(
        identity.user_id, "alice",
        "signed with the secret from Secrets Manager"
    );

    assert_eq!(
        by_id("req-2"),
        (
            "error",
            json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"})
        )
    );
    let (kind, allowed) = by_id("req-3");
    assert_eq!(kind, "response");
    assert_eq!(allowed["policyDocument"]["Statement"][0]["Effect"], "Allow");
    let (kind, unknown) = by_id("req-4");
    assert_eq!(
        (kind, unknown["errorType"].as_str()),
        ("error", Some("UnknownEvent"))
    );

    assert_eq!(
        fake.lock().expect("lock").secret_fetches,
        1,
        "one fetch per cold start"
    );
}
