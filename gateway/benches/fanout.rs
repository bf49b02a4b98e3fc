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
//! compare: the SDK client is the "before" of the signed HTTP requests.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use support::{
    arg, clients, collect, connection_ids, ms, no_more_frames, numbers, put_events, start_gateway,
    Fail,
};
use tokio::sync::mpsc;
use wspush_contract::{limits, push_clients};

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
    let store = arg(&args, "--store").unwrap_or_else(|| "embedded".into());
    let sizes = numbers(&args, "--subscribers", "1000,10000")?;
    let rounds: usize = arg(&args, "--rounds").map_or(Ok(3), |v| v.parse())?;
    let push_clients = arg(&args, "--push-clients")
        .unwrap_or_else(|| format!("{},{}", push_clients::SIGNED_HTTP, push_clients::SDK));
    let push_clients: Vec<String> = push_clients.split(',').map(str::to_string).collect();
    if let Some(unknown) = push_clients
        .iter()
        .find(|c| !push_clients::ALL.contains(&c.as_str()))
    {
        return Err(format!(
            "--push-clients: {unknown:?} is not one of {:?}",
            push_clients::ALL
        )
        .into());
    }
    let endpoint = match store.as_str() {
        "embedded" => None,
        "dynamodb" => Some(std::env::var("DYNAMODB_ENDPOINT").map_err(|_| {
            "--store dynamodb needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string()
        })?),
        other => return Err(format!("--store must be embedded or dynamodb, not {other}").into()),
    };
    let settings = Settings {
        rounds: rounds.max(1),
        store,
        endpoint,
        baseline: !args.iter().any(|a| a == "--skip-baseline"),
    };
    let runtime = support::runtime()?;
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
            println!(
                "{:>8} n={n:>6}: fan-out with {first} / with {second} = {:.1} / {:.1} ms = {:.2}",
                settings.store,
                ms(*a),
                ms(*b),
                ms(*a) / ms(*b)
            );
        }
    }
    Ok(())
}

/// One gateway whose runtime pushes with `push_client`: the fan-out's median time.
async fn measure(n: usize, settings: &Settings, push_client: &str) -> Result<Duration, Fail> {
    let mut options = match &settings.endpoint {
        Some(endpoint) => vec![
            "--dynamodb-endpoint".to_string(),
            endpoint.clone(),
            "--table".to_string(),
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ],
        None => Vec::new(),
    };
    options.extend(["--push-client".to_string(), push_client.to_string()]);
    let mut gateway = start_gateway(&options).await?;
    let addr = gateway.addr;
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (tx, mut arrivals) = mpsc::unbounded_channel();

    let setup = Instant::now();
    let closers = clients(addr, 0, n, Some(&entity), &tx).await?;
    let setup = setup.elapsed();
    let ids = connection_ids(addr).await?;
    let profiler = Profiler::from_env()?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let api = wspush_runtime::aws::management_client(&sdk, &format!("http://{addr}/production"));

    let run = Instant::now();
    let (mut fanouts, mut medians, mut baselines) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..settings.rounds {
        profiler.command("enable")?;
        let started = Instant::now();
        put_events(addr, &entity).await?;
        let (all, half) = collect(n, started, &mut arrivals).await?;
        profiler.command("disable")?;
        no_more_frames(&mut arrivals, Duration::from_millis(500)).await?;
        if let Ok(Some(limit)) =
            tokio::time::timeout(Duration::from_secs(1), gateway.limits.recv()).await
        {
            println!("  round: {:.1} ms, adaptive limit {limit}", ms(all));
        }
        fanouts.push(all);
        medians.push(half);
        if settings.baseline {
            let started = Instant::now();
            sequential(&api, &ids, run).await?;
            baselines.push(collect(n, started, &mut arrivals).await?.0);
        }
    }
    let (fanout_all, fanout_median) = (median(fanouts), median(medians));
    let baseline = if baselines.is_empty() {
        "baseline skipped".to_string()
    } else {
        let baseline_all = median(baselines);
        let ratio = ms(fanout_all) / ms(baseline_all);
        format!(
            "baseline sequential @connections {:>8.1} ms | ratio {ratio:.2} (target <= 0.15: {})",
            ms(baseline_all),
            if ratio <= 0.15 { "met" } else { "NOT met" },
        )
    };
    println!(
        "{:>8} n={n:>6} {push_client:>11}: fan-out {:>8.1} ms (median client {:>7.1} ms) | {baseline} | {:.0} pushes/s | medians of {} rounds | setup {:.1} s",
        settings.store,
        ms(fanout_all),
        ms(fanout_median),
        n as f64 / fanout_all.as_secs_f64(),
        settings.rounds,
        setup.as_secs_f64(),
    );
    drop(closers);
    gateway.stop().await?;
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

/// The middle of `times` (the upper middle for an even count).
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
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
