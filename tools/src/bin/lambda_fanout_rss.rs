//! CPU time and memory of the built `bootstrap` for one fan-out, per push client, as Lambda
//! would see them: the binary runs under the wire-level Runtime API fake, reads its subscribers
//! from DynamoDB (DynamoDB Local) and pushes with its push client (`PUSH_CLIENT`) to an
//! `@connections` endpoint; its CPU time and resident set are read from `/proc` (`VmHWM`, the
//! peak, is what Lambda's "Max Memory Used" reports for a single process). On Lambda CPU is
//! what memory buys, so the CPU time sets how fast a fan-out runs there.
//!
//! ```sh
//! # DYNAMODB_ENDPOINT: DynamoDB Local (scripts/lib.sh start_dynamodb_local)
//! cargo run --release -p wspush-tools --bin lambda-fanout-rss -- \
//!     --bootstrap target/release/bootstrap [--subscribers 10000] \
//!     [--push-clients sdk,signed-http] [--rounds 2]
//! ```
//!
//! The subscribers are written once; each round runs one fan-out per push client, alternating,
//! each in a fresh `bootstrap` process. Without `--push-clients` the client is `PUSH_CLIENT`
//! from this process's environment, or `signed-http`. The first client listed is the baseline
//! of the others' CPU ratios.
//!
//! The `@connections` endpoint is a minimal one answering 200 to every post (in this process),
//! not the local gateway: the figure is the runtime's own cost, which does not depend on who
//! receives the frames. Every subscriber must receive exactly one frame, or the run fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use futures::{StreamExt, TryStreamExt};
use wspush_contract::{defaults, push_clients};
use wspush_runtime::aws;
use wspush_runtime::store::{ConnectionRecord, ConnectionStore, DynamoStore};
use wspush_tools::bootstrap::{delivered_answer, sqs_batch, EventsFunction};
use wspush_tools::report::{mib, Figure};
use wspush_tools::runtime_api::RuntimeApi;
use wspush_tools::{cli, procfs};

const ENTITY: &str = "rss-entity";
const FANOUT_LIMIT: Duration = Duration::from_secs(300);
const TABLE: &str = "The `bootstrap`'s CPU per fan-out, per push client (`lambda-fanout-rss`)";

type Deliveries = Arc<Mutex<HashMap<String, usize>>>;

async fn delivered(
    State(seen): State<Deliveries>,
    Path((_stage, id)): Path<(String, String)>,
) -> StatusCode {
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    *seen.entry(id).or_default() += 1;
    StatusCode::OK
}

/// A minimal `@connections` on 127.0.0.1:0 that accepts every post and counts it.
async fn connections_endpoint() -> Result<(String, Deliveries)> {
    let seen = Deliveries::default();
    let app = Router::new()
        .route("/{stage}/@connections/{id}", post(delivered))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/production", listener.local_addr()?);
    // Serves until this process ends.
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((endpoint, seen))
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
                token_expires_at: None,
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

struct Settings {
    bootstrap: PathBuf,
    subscribers: usize,
    dynamodb: String,
    push_clients: Vec<String>,
    rounds: usize,
}

fn settings() -> Result<Settings> {
    let args: Vec<String> = std::env::args().collect();
    let fail = |e: wspush_tools::Fail| anyhow::anyhow!("{e}");
    let push_clients = cli::arg(&args, "--push-clients")
        .or_else(|| std::env::var("PUSH_CLIENT").ok())
        .unwrap_or_else(|| push_clients::SIGNED_HTTP.into());
    let push_clients: Vec<String> = push_clients.split(',').map(str::to_string).collect();
    if let Some(unknown) = push_clients
        .iter()
        .find(|c| !push_clients::ALL.contains(&c.as_str()))
    {
        bail!(
            "push client {unknown:?} is not one of {:?}",
            push_clients::ALL
        );
    }
    Ok(Settings {
        bootstrap: cli::arg(&args, "--bootstrap")
            .context("usage: lambda-fanout-rss --bootstrap PATH [--subscribers N] [--push-clients A,B] [--rounds N]")?
            .into(),
        subscribers: cli::number(&args, "--subscribers", 10_000).map_err(fail)?,
        dynamodb: std::env::var("DYNAMODB_ENDPOINT").context(
            "DYNAMODB_ENDPOINT must name DynamoDB Local (scripts/lib.sh start_dynamodb_local)",
        )?,
        push_clients,
        rounds: cli::number(&args, "--rounds", 1).map_err(fail)?.max(1),
    })
}

/// One fan-out's figures: resident KiB after init, at the peak and after; CPU seconds.
struct Fanout {
    after_init: u64,
    peak: u64,
    after: u64,
    cpu: f64,
    elapsed: Duration,
}

/// A fresh `bootstrap` pushing with `push_client` to `endpoint`: one fan-out to every
/// subscriber of [`ENTITY`] in `table`; each must get exactly one frame.
async fn fan_out(
    settings: &Settings,
    table: &str,
    (endpoint, deliveries): &(String, Deliveries),
    push_client: &str,
) -> Result<Fanout> {
    deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let api = RuntimeApi::start()
        .await
        .context("starting the Runtime API fake")?;
    let function = EventsFunction {
        bootstrap: &settings.bootstrap,
        dynamodb: &settings.dynamodb,
        table,
        management_endpoint: endpoint,
        push_client: Some(push_client),
    };
    let mut child = function
        .command(&api)
        .spawn()
        .with_context(|| format!("starting {}", settings.bootstrap.display()))?;
    let pid = child.id().context("bootstrap exited at once")?;
    let fanout = measure(&api, pid).await;
    let _ = child.kill().await;
    api.stop().await;
    let fanout = fanout?;
    check_deliveries(deliveries, settings.subscribers)?;
    Ok(fanout)
}

/// Waits for the cold start, then times the one invocation.
async fn measure(api: &RuntimeApi, pid: u32) -> Result<Fanout> {
    ensure!(
        api.wait(Duration::from_secs(60), |api| api.first_next().is_some())
            .await,
        "the bootstrap never asked for /next"
    );
    let after_init = procfs::status_kib(pid, "VmRSS")?;
    let cpu_before = procfs::cpu_seconds(pid)?;
    let started = Instant::now();
    api.invoke("fanout-1", sqs_batch(ENTITY));
    ensure!(
        api.wait(FANOUT_LIMIT, |api| !api.answers().is_empty())
            .await,
        "no answer to the fan-out within {FANOUT_LIMIT:?}"
    );
    let elapsed = started.elapsed();
    let fanout = Fanout {
        after_init,
        peak: procfs::status_kib(pid, "VmHWM")?,
        after: procfs::status_kib(pid, "VmRSS")?,
        cpu: procfs::cpu_seconds(pid)? - cpu_before,
        elapsed,
    };
    delivered_answer(&api.answers(), "fanout-1").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(fanout)
}

fn check_deliveries(deliveries: &Deliveries, subscribers: usize) -> Result<()> {
    let seen = deliveries.lock().unwrap_or_else(PoisonError::into_inner);
    let duplicates = seen.values().filter(|&&n| n > 1).count();
    ensure!(
        seen.len() == subscribers && duplicates == 0,
        "{} of {subscribers} subscribers received a frame, {duplicates} more than one",
        seen.len()
    );
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn listed(values: &[f64], digits: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.digits$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per push client: the median CPU seconds (the first client's is the others' baseline) and
/// the peak memory against the memory after init.
fn report(settings: &Settings, runs: &[(String, Fanout)]) -> Result<()> {
    let n = settings.subscribers;
    let mut baseline: Option<(&str, f64)> = None;
    for client in &settings.push_clients {
        let mine: Vec<&Fanout> = runs
            .iter()
            .filter(|(c, _)| c == client)
            .map(|(_, f)| f)
            .collect();
        let cpu: Vec<f64> = mine.iter().map(|f| f.cpu).collect();
        let peaks: Vec<f64> = mine.iter().map(|f| mib(f.peak)).collect();
        let init = median(mine.iter().map(|f| mib(f.after_init)).collect());
        let (cpu_median, peak_median) = (median(cpu.clone()), median(peaks.clone()));
        let mut figure = Figure::new(
            TABLE,
            format!("CPU time of one {n}-subscriber fan-out, `{client}`"),
            format!("{cpu_median:.2} CPU-s (rounds: {})", listed(&cpu, 2)),
        );
        match baseline {
            Some((base, base_cpu)) if base != client => {
                figure = figure
                    .baseline(format!("`{base}`: {base_cpu:.2} CPU-s"))
                    .ratio(cpu_median / base_cpu)
            }
            _ => baseline = Some((client, cpu_median)),
        }
        figure
            .purpose("CPU is what MemorySize buys on Lambda")
            .record()?;
        Figure::new(
            TABLE,
            format!("peak resident memory (`VmHWM`), `{client}`"),
            format!("{peak_median:.1} MiB (rounds: {})", listed(&peaks, 1)),
        )
        .baseline(format!("{init:.1} MiB after init"))
        .ratio(peak_median / init)
        .purpose("sets `EventsMemoryMb` (docs/deploy.md)")
        .record()?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let settings = settings()?;
    let table = format!("rss-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::new(
        aws::dynamodb_client(&aws::local_sdk_config("us-east-1"), &settings.dynamodb),
        &table,
        defaults::INDEX_NAME,
    );
    let seeded = Instant::now();
    seed(&store, settings.subscribers).await?;
    println!(
        "seeded {} subscribers of {ENTITY} in table {table} ({:.1} s)",
        settings.subscribers,
        seeded.elapsed().as_secs_f64()
    );
    let endpoint = connections_endpoint().await?;
    let mut runs = Vec::new();
    for _ in 0..settings.rounds {
        for client in &settings.push_clients {
            let f = fan_out(&settings, &table, &endpoint, client).await?;
            println!(
                "{} ({client}) fan-out to {} subscribers in {:.2} s using {:.2} CPU-seconds: RSS \
                 after init {:.1} MiB, peak (VmHWM) {:.1} MiB, after {:.1} MiB",
                settings.bootstrap.display(),
                settings.subscribers,
                f.elapsed.as_secs_f64(),
                f.cpu,
                mib(f.after_init),
                mib(f.peak),
                mib(f.after),
            );
            runs.push((client.clone(), f));
        }
    }
    report(&settings, &runs)
}
