//! The `bootstrap` binary's own peak memory for one 10,000-subscriber fan-out, as Lambda sees
//! it: the process's high-water mark of resident memory (`VmHWM`), which is what Lambda's
//! `Max Memory Used` reports.
//!
//! ```text
//! DYNAMODB_ENDPOINT=http://127.0.0.1:8000 WSPUSH_BOOTSTRAP_BIN=target/release/bootstrap \
//!   cargo bench -p wspush-gateway --bench perf -- lambda-memory [--subscribers 10000]
//! ```
//!
//! The gateway runs on DynamoDB Local (a fresh table) and holds N subscribed clients of this
//! process. The release `bootstrap` runs as the events function would (`EVENT_KINDS=sqs,
//! eventbridge`, its DynamoDB endpoint DynamoDB Local, its `MANAGEMENT_ENDPOINT` the gateway's
//! `@connections`) under a wire-level fake of the Lambda Runtime API served here, which hands
//! it one SQS batch holding one "Entity Updated" event. Figures, in the same run: `VmHWM` after
//! the cold start (waiting for its first invocation), after a one-subscriber event, and after
//! the N-subscriber event.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{arg, clients, collect, ms, proc_status_kib, start_gateway, Fail};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

/// The fake Runtime API's state: events to hand out, and where answers go.
#[derive(Clone)]
struct Fake {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    ready: Arc<Notify>,
    /// Each `next` request (the process is idle, waiting), then each answer.
    seen: mpsc::UnboundedSender<Seen>,
}

#[derive(Debug)]
enum Seen {
    Waiting,
    Answer(String, &'static str, Value),
}

async fn next(State(fake): State<Fake>) -> Response {
    let _ = fake.seen.send(Seen::Waiting);
    loop {
        let ready = fake.ready.notified();
        let event = fake
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some((id, event)) = event {
            let deadline = (chrono::Utc::now().timestamp_millis() + 30_000).to_string();
            let headers = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:events".to_string(),
                ),
                ("content-type", "application/json".to_string()),
            ];
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        ready.await;
    }
}

fn answered(fake: &Fake, id: String, kind: &'static str, body: &Bytes) -> StatusCode {
    let value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let _ = fake.seen.send(Seen::Answer(id, kind, value));
    StatusCode::ACCEPTED
}

async fn response(State(fake): State<Fake>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answered(&fake, id, "response", &body)
}

async fn error(State(fake): State<Fake>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answered(&fake, id, "error", &body)
}

async fn init_error(State(fake): State<Fake>, body: Bytes) -> StatusCode {
    answered(&fake, "init".into(), "init error", &body)
}

/// One SQS record holding one EventBridge "Entity Updated" event for `entity`.
fn sqs_batch(entity: &str) -> Value {
    let event = json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Entity Updated",
        "source": "bench", "account": "123456789012", "time": "2026-11-25T08:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"entityId": entity, "message": "bench"}
    });
    json!({"Records": [{
        "messageId": uuid::Uuid::new_v4().to_string(),
        "receiptHandle": "bench",
        "body": event.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000",
            "SenderId": "bench", "ApproximateFirstReceiveTimestamp": "1764000000001"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:wspush-entity-updated",
        "awsRegion": "us-east-1"
    }]})
}

pub fn main(args: &[String]) -> Result<(), Fail> {
    let n: usize = arg(args, "--subscribers").map_or(Ok(10_000), |v| v.parse())?;
    let dynamodb = std::env::var("DYNAMODB_ENDPOINT")
        .map_err(|_| "needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string())?;
    let bootstrap = std::env::var("WSPUSH_BOOTSTRAP_BIN")
        .map_err(|_| "needs WSPUSH_BOOTSTRAP_BIN (a release build of bootstrap)".to_string())?;
    crate::support::runtime()?.block_on(run(n, dynamodb, bootstrap))
}

async fn run(n: usize, dynamodb: String, bootstrap: String) -> Result<(), Fail> {
    let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let gateway = start_gateway(&[
        "--dynamodb-endpoint".into(),
        dynamodb.clone(),
        "--table".into(),
        table.clone(),
    ])
    .await?;
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let setup = Instant::now();
    let closers = clients(gateway.addr, 0, n, Some(&entity), &tx).await?;
    let single = clients(gateway.addr, n, 1, Some("one-subscriber"), &tx).await?;
    println!(
        "lambda memory bench: {n} subscribers on DynamoDB Local (set up in {:.1} s)",
        setup.elapsed().as_secs_f64()
    );

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let fake = Fake {
        events: Arc::default(),
        ready: Arc::new(Notify::new()),
        seen: seen_tx,
    };
    let api = serve_fake(fake.clone()).await?;
    let mut child = tokio::process::Command::new(&bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "events")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/events")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb)
        .env("TABLE_NAME", &table)
        .env("INDEX_NAME", "GSI1")
        .env(
            "MANAGEMENT_ENDPOINT",
            format!("http://{}/production", gateway.addr),
        )
        .env("EVENT_KINDS", "sqs,eventbridge")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("bootstrap exited at once")?;

    let invoke = |id: &str, event: Value| {
        fake.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((id.to_string(), event));
        fake.ready.notify_waiters();
    };
    wait_idle(&mut seen).await?;
    let cold = proc_status_kib(pid, "VmHWM")?;

    invoke("one", sqs_batch("one-subscriber"));
    let answer = wait_answer(&mut seen).await?;
    check_answer(&answer)?;
    wait_idle(&mut seen).await?;
    let small = proc_status_kib(pid, "VmHWM")?;
    // The one-subscriber client's frame.
    let _ = arrivals.recv().await;

    let started = Instant::now();
    invoke("fan-out", sqs_batch(&entity));
    let answer = wait_answer(&mut seen).await?;
    let elapsed = started.elapsed();
    check_answer(&answer)?;
    let (all, _) = collect(n, started, &mut arrivals).await?;
    wait_idle(&mut seen).await?;
    let peak = proc_status_kib(pid, "VmHWM")?;
    let rss = proc_status_kib(pid, "VmRSS")?;
    println!(
        "  bootstrap VmHWM: {:.1} MiB after cold start, {:.1} MiB after a 1-subscriber event, {:.1} MiB after the {n}-subscriber event (RSS now {:.1} MiB); invocation {:.0} ms, every client one copy by {:.0} ms",
        cold as f64 / 1024.0,
        small as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss as f64 / 1024.0,
        ms(elapsed),
        ms(all),
    );
    child.kill().await?;
    drop(closers);
    drop(single);
    gateway.stop().await
}

async fn serve_fake(fake: Fake) -> Result<SocketAddr, Fail> {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Serves until this bench process ends.
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

async fn wait_idle(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Result<(), Fail> {
    match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
        Ok(Some(Seen::Waiting)) => Ok(()),
        Ok(Some(Seen::Answer(id, kind, value))) => {
            Err(format!("unexpected {kind} for {id}: {value}").into())
        }
        Ok(None) | Err(_) => Err("bootstrap never asked for an invocation".into()),
    }
}

async fn wait_answer(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
) -> Result<(String, &'static str, Value), Fail> {
    match tokio::time::timeout(Duration::from_secs(120), seen.recv()).await {
        Ok(Some(Seen::Answer(id, kind, value))) => Ok((id, kind, value)),
        other => Err(format!("no answer from bootstrap: {other:?}").into()),
    }
}

/// An SQS batch answer with no failed record.
fn check_answer((id, kind, value): &(String, &'static str, Value)) -> Result<(), Fail> {
    let failures = value["batchItemFailures"].as_array().map(Vec::len);
    if *kind != "response" || failures != Some(0) {
        return Err(format!("invocation {id}: {kind} {value}").into());
    }
    Ok(())
}
