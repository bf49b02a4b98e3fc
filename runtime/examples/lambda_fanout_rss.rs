//! Peak memory of the built `bootstrap` for one fan-out, as Lambda would see it: the binary
//! runs under the wire-level Runtime API fake, reads its subscribers from DynamoDB (DynamoDB
//! Local) and pushes with its push client (`PUSH_CLIENT`) to an `@connections` endpoint; its resident
//! set is read from `/proc` (`VmHWM`, the peak, which is what Lambda's "Max Memory Used"
//! reports for a single process).
//!
//! ```sh
//! # DYNAMODB_ENDPOINT: DynamoDB Local (scripts/lib.sh start_dynamodb_local)
//! cargo run -p wspush-runtime --example lambda_fanout_rss -- \
//!     --bootstrap target/lambda/bootstrap/bootstrap [--subscribers 10000]
//! ```
//!
//! With `PUSH_CLIENT=sdk` set, the bootstrap pushes with the SDK client instead of signed HTTP
//! requests (the CPU-seconds line compares the two).
//!
//! The `@connections` endpoint is a minimal one answering 200 to every post (in this process),
//! not the local gateway: the figure is the runtime's own memory, which does not depend on who
//! receives the frames. Every subscriber must receive exactly one frame, or the run fails.

#[path = "../tests/support/runtime_api.rs"]
mod runtime_api;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use futures::{StreamExt, TryStreamExt};
use runtime_api::RuntimeApi;
use serde_json::json;
use wspush_runtime::aws;
use wspush_runtime::store::{ConnectionRecord, ConnectionStore, DynamoStore};

const ENTITY: &str = "rss-entity";
const INDEX: &str = "GSI1";
const FANOUT_LIMIT: Duration = Duration::from_secs(300);

type Deliveries = Arc<Mutex<HashMap<String, usize>>>;

async fn delivered(
    State(seen): State<Deliveries>,
    Path((_stage, id)): Path<(String, String)>,
) -> StatusCode {
    let mut seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *seen.entry(id).or_default() += 1;
    StatusCode::OK
}

/// A minimal `@connections` on 127.0.0.1:0 that accepts every post and counts it.
async fn connections_endpoint() -> Result<(String, Deliveries, tokio::task::JoinHandle<()>)> {
    let seen = Deliveries::default();
    let app = Router::new()
        .route("/{stage}/@connections/{id}", post(delivered))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/production", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((endpoint, seen, server))
}

async fn seed(store: &DynamoStore, subscribers: usize) -> Result<()> {
    store.ensure_table().await.context("creating the table")?;
    futures::stream::iter(0..subscribers)
        .map(|i| async move {
            let id = format!("rss{i:07}AAAAA=");
            let record = ConnectionRecord {
                connection_id: id.clone(),
                user_id: format!("user-{i}"),
                connected_at_ms: 0,
                ip_address: Some("192.0.2.1".into()),
                expires_at: i64::MAX,
            };
            store.put_connection(&record).await?;
            store.put_subscription(&id, ENTITY, i64::MAX).await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .context("seeding subscriptions")?;
    Ok(())
}

/// `(VmRSS, VmHWM)` of `pid` in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => bail!("no VmRSS/VmHWM in /proc/{pid}/status"),
    }
}

/// CPU time (user + system) `pid` has used so far, from `/proc/{pid}/stat` in clock ticks
/// (100 per second on Linux).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name, which may itself hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/pid/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .context("malformed /proc/pid/stat")
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn sqs_event(event_id: &str) -> serde_json::Value {
    let detail = json!({
        "version": "0", "id": event_id, "detail-type": "Entity Updated",
        "source": "backend-service", "account": "123456789012",
        "time": "2026-11-25T03:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"entityId": ENTITY, "message": "fan-out memory measurement"}
    });
    json!({"Records": [{
        "messageId": "7a1c0f4e-0000-4000-8000-000000000001",
        "receiptHandle": "rss-receipt",
        "body": detail.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764039600000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764039600000"},
        "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:wspush-events",
        "awsRegion": "us-east-1"
    }]})
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut bootstrap = None;
    let mut subscribers = 10_000usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next().map(PathBuf::from),
            "--subscribers" => {
                let value = args.next().context("--subscribers needs a number")?;
                subscribers = value
                    .parse()
                    .with_context(|| format!("--subscribers: {value:?} is not a number"))?;
            }
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let bootstrap =
        bootstrap.context("usage: lambda_fanout_rss --bootstrap PATH [--subscribers N]")?;
    let dynamodb = std::env::var("DYNAMODB_ENDPOINT").context(
        "DYNAMODB_ENDPOINT must name DynamoDB Local (scripts/lib.sh start_dynamodb_local)",
    )?;
    let table = format!("rss-{}", uuid::Uuid::new_v4().simple());

    let store = DynamoStore::new(
        aws::dynamodb_client(&aws::local_sdk_config("us-east-1"), &dynamodb),
        &table,
        INDEX,
    );
    let seeded = Instant::now();
    seed(&store, subscribers).await?;
    println!(
        "seeded {subscribers} subscribers of {ENTITY} in table {table} ({:.1} s)",
        seeded.elapsed().as_secs_f64()
    );

    let (endpoint, deliveries, server) = connections_endpoint().await?;
    let api = RuntimeApi::start()
        .await
        .context("starting the Runtime API fake")?;
    let mut child = tokio::process::Command::new(&bootstrap)
        .env_clear()
        .envs(api.lambda_env())
        .env("AWS_ENDPOINT_URL", &dynamodb)
        .env("TABLE_NAME", &table)
        .env("INDEX_NAME", INDEX)
        .env("MANAGEMENT_ENDPOINT", &endpoint)
        .env("LOG_FORMAT", "json")
        // `PUSH_CLIENT=sdk` in this process's environment measures the SDK push client.
        .envs(
            std::env::var("PUSH_CLIENT")
                .ok()
                .map(|c| ("PUSH_CLIENT", c)),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let pid = child.id().context("bootstrap exited at once")?;

    ensure!(
        api.wait(Duration::from_secs(60), |api| api.first_next().is_some())
            .await,
        "the bootstrap never asked for /next"
    );
    let (after_init, _) = memory_kib(pid)?;
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    api.invoke("fanout-1", sqs_event(&uuid::Uuid::new_v4().to_string()));
    ensure!(
        api.wait(FANOUT_LIMIT, |api| !api.answers().is_empty())
            .await,
        "no answer to the fan-out within {FANOUT_LIMIT:?}"
    );
    let elapsed = started.elapsed();
    let (after_fanout, peak) = memory_kib(pid)?;
    let cpu = cpu_seconds(pid)? - cpu_before;
    let _ = child.kill().await;
    let answers = api.answers();
    api.stop().await;
    server.abort();

    let seen = deliveries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let duplicates = seen.values().filter(|&&n| n > 1).count();
    ensure!(
        answers.first().is_some_and(|a| a.kind == "response"),
        "the fan-out failed: {answers:?}"
    );
    ensure!(
        seen.len() == subscribers && duplicates == 0,
        "{} of {subscribers} subscribers received a frame, {duplicates} more than one",
        seen.len()
    );
    println!(
        "{} fan-out to {subscribers} subscribers in {:.2} s using {cpu:.2} CPU-seconds: RSS after \
         init {:.1} MiB, peak (VmHWM) {:.1} MiB, after {:.1} MiB; answer {}",
        bootstrap.display(),
        elapsed.as_secs_f64(),
        after_init as f64 / 1024.0,
        peak as f64 / 1024.0,
        after_fanout as f64 / 1024.0,
        answers[0].body
    );
    Ok(())
}
