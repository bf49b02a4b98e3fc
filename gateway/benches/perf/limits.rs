//! The fan-out at API Gateway's limits: per-call latency and the account throttle.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench perf -- limits [--subscribers 10000] [--latency-ms 20] \
//!     [--throttle-rps 2000] [--throttle-burst 1000] [--rounds 5]
//! ```
//!
//! Each scenario starts the real `wspush-gateway` binary with the limit under test
//! (`--connections-latency-ms`, `--throttle-rps`/`--throttle-burst`), opens N subscribed
//! WebSocket clients in this process, sends one PutEvents and waits until every client holds
//! exactly one copy. The runtime inside the gateway pushes through `@connections` over HTTP as
//! in AWS, with its adaptive concurrency; its tally (delivered, failed, 429s) is read from the
//! gateway's log.
//!
//! - jitter: the same mean latency varying by half of it either way, against the fixed one
//!   (about 1, at least 0.90: the controller must not take varying round trips for a queue;
//!   above 1 is no fault);
//! - latency: the rate with 20 ms per call against the rate with none (target ≥ 0.8). One
//!   fan-out on this shared 2-core machine varies by ±15%, so each side is the median of
//!   `--rounds` fan-outs on the same gateway and clients (the first one opens the runtime's
//!   pool of connections, as a Lambda's first invocation does);
//! - throttle: the time to deliver all N against the token bucket's ideal time
//!   `(N - burst) / rate` (target ≤ 1.1), with the 429s counted;
//! - baseline under the same throttle, as the quick start's handler pushes: every call at once
//!   (up to [`BASELINE_IN_FLIGHT`] in flight), no retry — how many it delivers. (The quick start
//!   also reads one DynamoDB page only; the embedded store has no pages, so that loss is not
//!   counted here.)
//!
//! Needs about 2N+100 descriptors per process: `scripts/bench.sh` raises the limit. With
//! `BENCH_REPORT` set, each figure is also recorded for `docs/performance.md`.

use std::time::{Duration, Instant};

use crate::support::start_gateway;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::StreamExt;
use tokio::sync::mpsc;
use wspush_tools::cli::number;
use wspush_tools::clients::{clients, collect, no_more_frames, Arrival};
use wspush_tools::gateway::Gateway;
use wspush_tools::local_api::{connection_ids, put_events};
use wspush_tools::report::{ms, thousands, verdict, Figure};
use wspush_tools::Fail;

/// The table of `docs/performance.md` these figures go to.
const TABLE: &str = "Fan-out at API Gateway's limits (`perf -- limits`)";

struct Run {
    /// Until every client held its copy.
    all: Duration,
    /// Until half of them did.
    median: Duration,
    /// `all` of every round, when there were several (`all` is then their median).
    rounds: Vec<Duration>,
    tally: Option<wspush_runtime::fanout::Tally>,
    limit: Option<String>,
}

impl Run {
    /// Pushes a second to `n` clients.
    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.all.as_secs_f64()
    }

    /// `640 ms (median of 5: 620, 640, …)`.
    fn time(&self) -> String {
        match self.rounds.as_slice() {
            [] | [_] => format!("{:.0} ms", ms(self.all)),
            all => format!(
                "{:.0} ms (median of {}: {})",
                ms(self.all),
                all.len(),
                all.iter()
                    .map(|d| format!("{:.0}", ms(*d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The baseline's calls in flight: "all at once" within what one process's descriptors allow
/// next to N clients (the quick start's Node SDK v3 client keeps at most 50 sockets anyway).
const BASELINE_IN_FLIGHT: usize = 1_000;

struct Settings {
    n: usize,
    latency: usize,
    rps: usize,
    burst: usize,
    rounds: usize,
}

pub fn main(args: &[String]) -> Result<(), Fail> {
    let s = Settings {
        n: number(args, "--subscribers", 10_000)?,
        latency: number(args, "--latency-ms", 20)?,
        rps: number(args, "--throttle-rps", 2_000)?,
        burst: number(args, "--throttle-burst", 1_000)?,
        rounds: number(args, "--rounds", 5)?.max(1),
    };
    if s.n <= s.burst || s.rps == 0 {
        return Err(
            "--subscribers must exceed --throttle-burst, and --throttle-rps be above 0: \
                    the throttle figure compares the time beyond the burst with its ideal"
                .into(),
        );
    }
    println!(
        "limits bench: {} subscribers, latency {} ms ({} rounds), throttle {}/s burst {}",
        s.n, s.latency, s.rounds, s.rps, s.burst
    );
    wspush_tools::cli::runtime()?.block_on(async {
        latency(&s).await?;
        throttle(&s).await
    })
}

/// No latency against a fixed latency per call, then the same mean latency varying by half of
/// it either way.
async fn latency(s: &Settings) -> Result<(), Fail> {
    let (n, latency) = (s.n, s.latency);
    let zero = fan_outs(n, s.rounds, &[]).await?;
    report("no latency, no throttle", n, &zero);
    let options = ["--connections-latency-ms".to_string(), latency.to_string()];
    let slow = fan_outs(n, s.rounds, &options).await?;
    report(&format!("{latency} ms per call"), n, &slow);
    let ratio = slow.rate(n) / zero.rate(n);
    println!(
        "  latency: rate with {latency} ms / rate with 0 ms = {ratio:.2} (target >= 0.80: {})",
        verdict(ratio >= 0.8)
    );
    Figure::new(
        TABLE,
        format!("fan-out to {}, {latency} ms per call", thousands(n as u64)),
        format!("{}, {:.0} pushes/s", slow.time(), slow.rate(n)),
    )
    .baseline(format!(
        "no latency: {}, {:.0} pushes/s",
        zero.time(),
        zero.rate(n)
    ))
    .ratio(ratio)
    .target("≥ 0.80", ratio >= 0.8)
    .record()?;

    // Real round trips vary: the same mean with half of it as jitter either way.
    let jitter = latency / 2;
    let options = [
        &options[..],
        &["--connections-jitter-ms".to_string(), jitter.to_string()],
    ]
    .concat();
    let varied = fan_outs(n, s.rounds, &options).await?;
    report(&format!("{latency} ± {jitter} ms per call"), n, &varied);
    let varied_ratio = varied.rate(n) / slow.rate(n);
    println!(
        "  jitter: rate with {latency} ± {jitter} ms / rate with {latency} ms = {varied_ratio:.2} (round trips that vary are not congestion: about 1, at least 0.90: {})",
        verdict(varied_ratio >= 0.9)
    );
    Figure::new(
        TABLE,
        format!(
            "fan-out to {}, {latency} ± {jitter} ms per call",
            thousands(n as u64)
        ),
        format!("{}, {:.0} pushes/s", varied.time(), varied.rate(n)),
    )
    .baseline(format!("fixed {latency} ms: {}", slow.time()))
    .ratio(varied_ratio)
    .target("about 1 (≥ 0.90)", varied_ratio >= 0.9)
    .record()?;
    Ok(())
}

/// The adaptive fan-out under the account throttle against the token bucket's ideal, and the
/// quick start's way of pushing under the same throttle.
async fn throttle(s: &Settings) -> Result<(), Fail> {
    let (n, rps, burst) = (s.n, s.rps, s.burst);
    let options = [
        "--throttle-rps".to_string(),
        rps.to_string(),
        "--throttle-burst".to_string(),
        burst.to_string(),
    ];
    let (throttled, baseline) = throttled_and_baseline(n, &options).await?;
    report(&format!("throttle {rps}/s burst {burst}"), n, &throttled);
    let ideal = n.saturating_sub(burst) as f64 / rps as f64;
    let ratio = throttled.all.as_secs_f64() / ideal;
    let count = |field: fn(&wspush_runtime::fanout::Tally) -> usize| {
        throttled
            .tally
            .as_ref()
            .map_or("unknown".into(), |t| thousands(field(t) as u64))
    };
    let (retried, failed) = (count(|t| t.throttled), count(|t| t.failed));
    println!(
        "  throttle: all {n} in {:.0} ms, bucket's ideal {:.0} ms, ratio {ratio:.2} (target <= 1.10: {}), 429s {retried}",
        ms(throttled.all),
        ideal * 1000.0,
        verdict(ratio <= 1.1),
    );
    Figure::new(
        TABLE,
        format!(
            "account throttle {rps}/s, burst {burst}: all {} delivered",
            thousands(n as u64)
        ),
        format!(
            "{} ms; {retried} 429s counted and retried, {failed} failed",
            thousands(ms(throttled.all) as u64)
        ),
    )
    .baseline(format!(
        "the token bucket's ideal (N − burst) / rate: {} ms",
        thousands((ideal * 1000.0) as u64)
    ))
    .ratio(ratio)
    .target("≤ 1.10", ratio <= 1.1)
    .record()?;
    quick_start(n, &baseline)
}

/// What the quick start's way of pushing delivered under the same throttle.
fn quick_start(n: usize, baseline: &Baseline) -> Result<(), Fail> {
    println!(
        "  baseline (quick-start style: all at once, no retry) under the same throttle: {} of {n} delivered, {} answered 429, {} other errors, in {:.0} ms",
        baseline.delivered, baseline.throttled, baseline.other, ms(baseline.elapsed)
    );
    Figure::new(
        TABLE,
        "the quick start's way under the same throttle: every call at once, no retry",
        format!(
            "{} of {} delivered, {} answered 429, {} other errors",
            thousands(baseline.delivered as u64),
            thousands(n as u64),
            thousands(baseline.throttled as u64),
            baseline.other
        ),
    )
    .baseline(format!(
        "the adaptive fan-out above: {0} of {0}",
        thousands(n as u64)
    ))
    .ratio(baseline.delivered as f64 / n as f64)
    .purpose("(comparison)")
    .record()?;
    Ok(())
}

fn report(name: &str, n: usize, run: &Run) {
    let tally = run.tally.map_or("tally not logged".to_string(), |t| {
        format!(
            "delivered {} failed {} gone {} 429s {}",
            t.delivered, t.failed, t.gone, t.throttled
        )
    });
    println!(
        "{name:>28}: {n} clients, all in {} (median client {:>7.1} ms), {:>6.0} pushes/s | {tally}",
        run.time(),
        ms(run.median),
        run.rate(n)
    );
    if let Some(limit) = &run.limit {
        println!("{:>28}  adaptive limit: {limit}", "");
    }
}

/// One gateway with `options`, N subscribers, `rounds` events one after the other; every
/// client exactly one copy of each. The run with the median time stands for all of them.
async fn fan_outs(n: usize, rounds: usize, options: &[String]) -> Result<Run, Fail> {
    let mut gateway = start_gateway(options).await?;
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let closers = clients(gateway.addr, 0, n, Some(&entity), &tx).await?;
    let mut runs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        runs.push(measure(&mut gateway, n, &entity, &mut arrivals).await?);
    }
    drop(closers);
    gateway.stop().await?;
    let times: Vec<Duration> = runs.iter().map(|r| r.all).collect();
    runs.sort_by_key(|r| r.all);
    let mut middle = runs.swap_remove(runs.len() / 2);
    middle.rounds = times;
    Ok(middle)
}

async fn measure(
    gateway: &mut Gateway,
    n: usize,
    entity: &str,
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
) -> Result<Run, Fail> {
    let started = Instant::now();
    put_events(gateway.addr, entity).await?;
    let (all, median) = collect(n, started, arrivals).await?;
    no_more_frames(arrivals, Duration::from_millis(500)).await?;
    let tally = tokio::time::timeout(Duration::from_secs(5), gateway.tallies.recv())
        .await
        .ok()
        .flatten();
    let limit = tokio::time::timeout(Duration::from_secs(1), gateway.limits.recv())
        .await
        .ok()
        .flatten();
    Ok(Run {
        all,
        median,
        rounds: Vec::new(),
        tally,
        limit,
    })
}

struct Baseline {
    delivered: usize,
    throttled: usize,
    other: usize,
    elapsed: Duration,
}

/// The adaptive fan-out under the throttle, then (bucket refilled) the quick-start baseline on
/// the same clients.
async fn throttled_and_baseline(n: usize, options: &[String]) -> Result<(Run, Baseline), Fail> {
    let mut gateway = start_gateway(options).await?;
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let closers = clients(gateway.addr, 0, n, Some(&entity), &tx).await?;
    let run = measure(&mut gateway, n, &entity, &mut arrivals).await?;

    // Let the bucket fill up again (burst / rate is well under 2 s here).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids = connection_ids(gateway.addr).await?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let api = wspush_runtime::aws::management_client(
        &sdk,
        &format!("http://{}/production", gateway.addr),
    );
    let started = Instant::now();
    let answers: Vec<_> = futures::stream::iter(ids.iter().map(|id| {
        api.post_to_connection()
            .connection_id(id)
            .data(Blob::new(r#"{"type":"Pong"}"#))
            .send()
    }))
    .buffer_unordered(BASELINE_IN_FLIGHT)
    .collect()
    .await;
    let elapsed = started.elapsed();
    let mut baseline = Baseline {
        delivered: 0,
        throttled: 0,
        other: 0,
        elapsed,
    };
    for answer in answers {
        match answer {
            Ok(_) => baseline.delivered += 1,
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(429) => {
                baseline.throttled += 1
            }
            Err(_) => baseline.other += 1,
        }
    }
    // Cross-check with what the clients hold: no more frames than answered 200.
    let mut received = 0;
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(1_000), arrivals.recv()).await
    {
        received += 1;
    }
    if received != baseline.delivered {
        return Err(format!(
            "baseline: {} calls answered 200 but clients received {received}",
            baseline.delivered
        )
        .into());
    }
    drop(closers);
    gateway.stop().await?;
    Ok((run, baseline))
}
