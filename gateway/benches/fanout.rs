//! Fan-out time through the local gateway: one PutEvents to N subscribers of one entity.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench fanout -- [--subscribers 1000,10000] [--store embedded|dynamodb] [--rounds 3] [--push-clients signed-http,sdk]
//! ```
//! (`--store dynamodb` needs `DYNAMODB_ENDPOINT`, e.g. DynamoDB Local; a fresh table is used.)
//!
//! Each of `--rounds` rounds is one fan-out and one baseline on the same clients; the medians
//! are compared. To profile only the fan-outs, start `perf record --control fifo:CTL -D -1`
//! and set `BENCH_PERF_CONTROL=CTL`: the bench writes `enable` before each fan-out and
//! `disable` after it.
//!
//! The real `wspush-gateway` binary runs as a child process on 127.0.0.1 port 0 (see
//! `support`): 10,000 clients and their 10,000 server-side sockets would not fit one process
//! under a 20,000 file-descriptor limit. The parent opens N WebSocket clients, subscribes each to one
//! entity (waiting for every `Subscribed`), then measures from sending PutEvents over HTTP
//! until every client holds its push, and checks that nobody got a second frame.
//!
//! Baseline, measured in the same run on the same sockets: N sequential `@connections` POSTs
//! with the ordinary SDK client (concurrency 1, each waiting for its answer), until every
//! client has that frame. The ratio fan-out / baseline is what the numbers mean elsewhere.
//!
//! `--skip-baseline` leaves the baseline out (profiling records only the fan-outs, and with
//! `--connections-latency-ms` a sequential baseline takes minutes).
//!
//! `--push-clients` (default both) runs the whole measurement once per client the runtime can
//! push with (`PUSH_CLIENT`), each on a gateway of its own, and prints how their fan-outs
//! compare: the signed HTTP requests against the SDK client.
//!
//! With `BENCH_REPORT` set, each figure is also recorded for `docs/performance.md`.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use support::start_gateway;
use tokio::sync::mpsc;
use wspush_contract::{limits, push_clients};
use wspush_tools::cli::{arg, flag, number, numbers};
use wspush_tools::clients::{clients, collect, no_more_frames, Arrival};
use wspush_tools::gateway::Gateway;
use wspush_tools::local_api::{connection_ids, put_events};
use wspush_tools::report::{median, ms, thousands, verdict, Figure};
use wspush_tools::Fail;

/// The table of `docs/performance.md` these figures go to.
const TABLE: &str = "Fan-out against sequential `@connections` calls (`fanout`)";

/// What every measurement of one run shares.
struct Settings {
    rounds: usize,
    store: String,
    /// DynamoDB Local's URL with `--store dynamodb`.
    endpoint: Option<String>,
    baseline: bool,
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let sizes = numbers(&args, "--subscribers", "1000,10000")?;
    let push_clients = push_clients_of(&args)?;
    let settings = settings(&args)?;
    let runtime = wspush_tools::cli::runtime()?;
    println!(
        "fan-out bench, {} store, subscribers {sizes:?}, {} rounds",
        settings.store, settings.rounds
    );
    for n in sizes {
        let mut fanouts = Vec::new();
        for client in &push_clients {
            let fanout = runtime.block_on(measure(n, &settings, client))?;
            fanouts.push((client, fanout));
        }
        if let [(first, a), (second, b)] = &fanouts[..] {
            compare_clients(n, &settings, (first, *a), (second, *b))?;
        }
    }
    Ok(())
}

fn settings(args: &[String]) -> Result<Settings, Fail> {
    let (store, endpoint) = wspush_tools::cli::store(args)?;
    Ok(Settings {
        rounds: number(args, "--rounds", 3)?.max(1),
        store,
        endpoint,
        baseline: !flag(args, "--skip-baseline"),
    })
}

fn push_clients_of(args: &[String]) -> Result<Vec<String>, Fail> {
    let listed = arg(args, "--push-clients")
        .unwrap_or_else(|| format!("{},{}", push_clients::SIGNED_HTTP, push_clients::SDK));
    let listed: Vec<String> = listed.split(',').map(str::to_string).collect();
    if let Some(unknown) = listed
        .iter()
        .find(|c| !push_clients::ALL.contains(&c.as_str()))
    {
        return Err(format!(
            "--push-clients: {unknown:?} is not one of {:?}",
            push_clients::ALL
        )
        .into());
    }
    Ok(listed)
}

/// The fan-outs of two push clients, on gateways of their own, against each other.
fn compare_clients(
    n: usize,
    settings: &Settings,
    (first, a): (&str, Duration),
    (second, b): (&str, Duration),
) -> Result<(), Fail> {
    println!(
        "{:>8} n={n:>6}: fan-out with {first} / with {second} = {:.1} / {:.1} ms = {:.2}",
        settings.store,
        ms(a),
        ms(b),
        ms(a) / ms(b)
    );
    Figure::new(
        TABLE,
        format!(
            "fan-out to {}: `{first}` against `{second}`",
            thousands(n as u64)
        ),
        format!("`{first}`: {:.0} ms", ms(a)),
    )
    .baseline(format!("`{second}`: {:.0} ms", ms(b)))
    .ratio(ms(a) / ms(b))
    .purpose("(comparison)")
    .record()?;
    Ok(())
}

/// One gateway, its N subscribed clients, and an SDK client of its `@connections`.
struct Audience {
    gateway: Gateway,
    entity: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    closers: Vec<wspush_tools::clients::Closer>,
    ids: Vec<String>,
    api: aws_sdk_apigatewaymanagement::Client,
    setup: Duration,
}

async fn audience(n: usize, settings: &Settings, push_client: &str) -> Result<Audience, Fail> {
    let mut options = wspush_tools::gateway::store_options(settings.endpoint.as_deref());
    options.extend(["--push-client".to_string(), push_client.to_string()]);
    let gateway = start_gateway(&options).await?;
    let addr: SocketAddr = gateway.addr;
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (tx, arrivals) = mpsc::unbounded_channel();
    let setup = Instant::now();
    let closers = clients(addr, 0, n, Some(&entity), &tx).await?;
    let setup = setup.elapsed();
    let ids = connection_ids(addr).await?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let api = wspush_runtime::aws::management_client(&sdk, &format!("http://{addr}/production"));
    Ok(Audience {
        gateway,
        entity,
        arrivals,
        closers,
        ids,
        api,
        setup,
    })
}

/// Each round's fan-out (until the last and the median client) and sequential baseline.
#[derive(Default)]
struct Rounds {
    fanouts: Vec<Duration>,
    medians: Vec<Duration>,
    baselines: Vec<Duration>,
}

async fn rounds(n: usize, settings: &Settings, a: &mut Audience) -> Result<Rounds, Fail> {
    let profiler = Profiler::from_env()?;
    let run = Instant::now();
    let mut rounds = Rounds::default();
    for _ in 0..settings.rounds {
        profiler.command("enable")?;
        let started = Instant::now();
        put_events(a.gateway.addr, &a.entity).await?;
        let (all, half) = collect(n, started, &mut a.arrivals).await?;
        profiler.command("disable")?;
        no_more_frames(&mut a.arrivals, Duration::from_millis(500)).await?;
        if let Ok(Some(limit)) =
            tokio::time::timeout(Duration::from_secs(1), a.gateway.limits.recv()).await
        {
            println!("  round: {:.1} ms, adaptive limit {limit}", ms(all));
        }
        rounds.fanouts.push(all);
        rounds.medians.push(half);
        if settings.baseline {
            let started = Instant::now();
            sequential(&a.api, &a.ids, run).await?;
            rounds
                .baselines
                .push(collect(n, started, &mut a.arrivals).await?.0);
        }
    }
    Ok(rounds)
}

/// One gateway whose runtime pushes with `push_client`: the fan-out's median time.
async fn measure(n: usize, settings: &Settings, push_client: &str) -> Result<Duration, Fail> {
    let mut audience = audience(n, settings, push_client).await?;
    let rounds = rounds(n, settings, &mut audience).await?;
    let (fanout_all, fanout_median) = (median(rounds.fanouts), median(rounds.medians));
    let baseline_all = (!rounds.baselines.is_empty()).then(|| median(rounds.baselines));
    let baseline = match baseline_all {
        None => "baseline skipped".to_string(),
        Some(baseline_all) => {
            let ratio = ms(fanout_all) / ms(baseline_all);
            format!(
                "baseline sequential @connections {:>8.1} ms | ratio {ratio:.2} (target <= 0.15: {})",
                ms(baseline_all),
                verdict(ratio <= 0.15),
            )
        }
    };
    let rate = n as f64 / fanout_all.as_secs_f64();
    println!(
        "{:>8} n={n:>6} {push_client:>11}: fan-out {:>8.1} ms (median client {:>7.1} ms) | {baseline} | {rate:.0} pushes/s | medians of {} rounds | setup {:.1} s",
        settings.store,
        ms(fanout_all),
        ms(fanout_median),
        settings.rounds,
        audience.setup.as_secs_f64(),
    );
    let mut figure = Figure::new(
        TABLE,
        format!(
            "fan-out to {}, `{push_client}` push client, {} store",
            thousands(n as u64),
            settings.store
        ),
        format!(
            "{:.0} ms, {rate:.0} pushes/s (median of {})",
            ms(fanout_all),
            settings.rounds
        ),
    );
    if let Some(baseline_all) = baseline_all {
        let ratio = ms(fanout_all) / ms(baseline_all);
        figure = figure
            .baseline(format!(
                "sequential `@connections` calls: {:.0} ms",
                ms(baseline_all)
            ))
            .ratio(ratio)
            .target("≤ 0.15", ratio <= 0.15);
    }
    figure.record()?;
    drop(audience.closers);
    audience.gateway.stop().await?;
    Ok(fanout_all)
}

/// The baseline: one sequential PostToConnection per id with the ordinary SDK client, each
/// awaited (`run` is when the measurement began, for the idle-timeout hint).
async fn sequential(
    api: &aws_sdk_apigatewaymanagement::Client,
    ids: &[String],
    run: Instant,
) -> Result<(), Fail> {
    for id in ids {
        api.post_to_connection()
            .connection_id(id)
            .data(Blob::new(r#"{"type":"Pong"}"#))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "baseline PostToConnection to {id} failed after {:.0} s of the run: {}. \
                     The gateway closes a connection idle for {} s, as API Gateway does, \
                     and these clients send nothing: use fewer rounds or subscribers",
                    run.elapsed().as_secs_f64(),
                    DisplayErrorContext(e),
                    limits::IDLE_TIMEOUT_SECS,
                )
            })?;
    }
    Ok(())
}

/// `perf record --control fifo:...`, when `BENCH_PERF_CONTROL` names its control FIFO.
struct Profiler(Option<std::fs::File>);

impl Profiler {
    fn from_env() -> Result<Self, Fail> {
        match std::env::var_os("BENCH_PERF_CONTROL") {
            None => Ok(Self(None)),
            Some(path) => Ok(Self(Some(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| format!("BENCH_PERF_CONTROL {}: {e}", path.to_string_lossy()))?,
            ))),
        }
    }

    fn command(&self, command: &str) -> Result<(), Fail> {
        if let Some(mut fifo) = self.0.as_ref() {
            use std::io::Write;
            fifo.write_all(format!("{command}\n").as_bytes())?;
        }
        Ok(())
    }
}
