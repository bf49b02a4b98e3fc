//! The gateway's memory: per idle subscribed connection, at 20,000 connections with a
//! 10,000-subscriber fan-out, and what is given back after connections close.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench perf -- memory [--idle 5000,20000] [--churn 5000] \
//!     [--connections 20000] [--subscribers 10000]
//! ```
//!
//! The real `wspush-gateway` binary runs as a child process; the clients run here, so the
//! gateway's resident memory (`VmRSS` in `/proc/{pid}/status`) is its own. Each figure is
//! measured against the same gateway with no connections, in the same run:
//!
//! - idle: (RSS with N idle subscribed connections − RSS with none) / N (target ≤ 16 KB);
//! - scale: 20,000 subscribed connections, one event to 10,000 of them: every recipient gets
//!   exactly one copy and nobody else any;
//! - churn: RSS after 5,000 connect+subscribe+close, against the RSS before and at the peak.
//!
//! Needs about 20,100 descriptors per process at 20,000 connections: `scripts/bench.sh`
//! raises the limit where it can. With `BENCH_REPORT` set, each figure is also recorded for
//! `docs/performance.md`.

use std::time::{Duration, Instant};

use crate::support::start_gateway;
use tokio::sync::mpsc;
use wspush_tools::cli::{number, numbers};
use wspush_tools::clients::{clients, collect, no_more_frames, Arrival, Closer};
use wspush_tools::gateway::Gateway;
use wspush_tools::local_api::{connection_ids, put_events};
use wspush_tools::report::{mib, ms, thousands, verdict, Figure};
use wspush_tools::Fail;

/// The table of `docs/performance.md` these figures go to.
const TABLE: &str = "Gateway memory (`perf -- memory`)";
/// The scale API Gateway's WebSocket APIs are used at here: connections open at once.
const SCALE_TARGET: usize = 20_000;

/// Time for the gateway to settle (sockets registered, allocator's deferred frees done)
/// before a reading.
const SETTLE: Duration = Duration::from_secs(2);
/// How long after the last close the churn figure is read: the gateway's allocator (jemalloc,
/// background purging) returns freed pages over its 10 s decay time, not at once.
const GIVE_BACK: Duration = Duration::from_secs(15);

pub fn main(args: &[String]) -> Result<(), Fail> {
    let idle = numbers(args, "--idle", "5000,20000")?;
    let churn = number(args, "--churn", 5_000)?;
    let total = number(args, "--connections", SCALE_TARGET)?;
    let subscribers = number(args, "--subscribers", 10_000)?;
    wspush_tools::cli::runtime()?.block_on(async {
        println!("memory bench (wspush-gateway's RSS from /proc)");
        for n in idle {
            idle_cost(n).await?;
        }
        scale(total, subscribers).await?;
        churned(churn).await?;
        Ok(())
    })
}

async fn settled_rss(gateway: &Gateway) -> Result<u64, Fail> {
    tokio::time::sleep(SETTLE).await;
    gateway.rss_kib()
}

/// Waits until the gateway lists no connection (every close ran `$disconnect`).
async fn until_empty(gateway: &Gateway) -> Result<(), Fail> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !connection_ids(gateway.addr).await?.is_empty() {
        if Instant::now() > deadline {
            return Err("connections still open two minutes after closing".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The gateway's settled RSS after one connection (index `first_unused`) was opened and
/// closed, so that lazily built parts are not counted as the connections' cost.
async fn warmed_up_rss(
    gateway: &Gateway,
    first_unused: usize,
    tx: &mpsc::UnboundedSender<Arrival>,
) -> Result<u64, Fail> {
    drop(clients(gateway.addr, first_unused, 1, Some("warm-up"), tx).await?);
    until_empty(gateway).await?;
    settled_rss(gateway).await
}

async fn idle_cost(n: usize) -> Result<(), Fail> {
    let gateway = start_gateway(&[]).await?;
    let (tx, _arrivals) = mpsc::unbounded_channel();
    let before = warmed_up_rss(&gateway, n, &tx).await?;
    let closers = clients(gateway.addr, 0, n, Some("idle"), &tx).await?;
    let with = settled_rss(&gateway).await?;
    let per = (with.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    let met = per <= 16_000.0;
    println!(
        "  idle: {n:>6} subscribed connections: RSS {:.1} MiB vs {:.1} MiB with none → {:.1} KB per connection (target <= 16 KB: {})",
        mib(with),
        mib(before),
        per / 1000.0,
        verdict(met)
    );
    Figure::new(
        TABLE,
        format!(
            "memory per idle subscribed connection, {} open",
            thousands(n as u64)
        ),
        format!("{:.1} KB (RSS {:.1} MiB)", per / 1000.0, mib(with)),
    )
    .baseline(format!("RSS with none: {:.1} MiB", mib(before)))
    .target("≤ 16 KB", met)
    .record()?;
    drop(closers);
    gateway.stop().await
}

/// `total` subscribed clients, the first `subscribers` of them to `entity`; the others to
/// another entity: subscribed, but not recipients.
async fn open_subscribed(
    gateway: &Gateway,
    total: usize,
    subscribers: usize,
    entity: &str,
    tx: &mpsc::UnboundedSender<Arrival>,
) -> Result<Vec<Closer>, Fail> {
    let mut closers = clients(gateway.addr, 0, subscribers, Some(entity), tx).await?;
    let others = total.saturating_sub(subscribers);
    closers.extend(clients(gateway.addr, subscribers, others, Some("other-entity"), tx).await?);
    Ok(closers)
}

async fn scale(total: usize, subscribers: usize) -> Result<(), Fail> {
    let mut gateway = start_gateway(&[]).await?;
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let closers = open_subscribed(&gateway, total, subscribers, &entity, &tx).await?;
    let setup = started.elapsed();
    let open = connection_ids(gateway.addr).await?.len();
    let rss = gateway.rss_kib()?;
    let started = Instant::now();
    put_events(gateway.addr, &entity).await?;
    let (all, median) = collect(subscribers, started, &mut arrivals).await?;
    no_more_frames(&mut arrivals, Duration::from_secs(1)).await?;
    let tally = tokio::time::timeout(Duration::from_secs(5), gateway.tallies.recv())
        .await
        .ok()
        .flatten();
    println!(
        "  scale: {open} open subscribed connections (set up in {:.1} s, RSS {:.1} MiB); one event to {subscribers}: each exactly one copy, nobody else any, all in {:.1} ms (median {:.1} ms){}",
        setup.as_secs_f64(),
        mib(rss),
        ms(all),
        ms(median),
        tally.map_or(String::new(), |t| format!(", runtime tally delivered {} failed {}", t.delivered, t.failed)),
    );
    if open != total {
        return Err(format!("{open} connections open, expected {total}").into());
    }
    Figure::new(
        TABLE,
        format!(
            "{} subscribed connections open, one event to {}",
            thousands(open as u64),
            thousands(subscribers as u64)
        ),
        format!(
            "each recipient exactly one copy, nobody else any, all in {:.0} ms; RSS {:.1} MiB",
            ms(all),
            mib(rss)
        ),
    )
    .target(
        format!("{} connections at once", thousands(SCALE_TARGET as u64)),
        open >= SCALE_TARGET,
    )
    .record()?;
    drop(closers);
    gateway.stop().await
}

async fn churned(n: usize) -> Result<(), Fail> {
    let gateway = start_gateway(&[]).await?;
    let (tx, _arrivals) = mpsc::unbounded_channel();
    let before = warmed_up_rss(&gateway, n, &tx).await?;
    let closers = clients(gateway.addr, 0, n, Some("churn"), &tx).await?;
    let peak = settled_rss(&gateway).await?;
    drop(closers);
    until_empty(&gateway).await?;
    let soon = settled_rss(&gateway).await?;
    tokio::time::sleep(GIVE_BACK.saturating_sub(SETTLE)).await;
    let later = gateway.rss_kib()?;
    let grown = peak.saturating_sub(before) as f64;
    let given_back = |after: u64| {
        let kept = after.saturating_sub(before) as f64;
        if grown > 0.0 {
            100.0 * (grown - kept) / grown
        } else {
            100.0
        }
    };
    println!(
        "  churn: {n} connect+subscribe+close: RSS {:.1} MiB before, {:.1} MiB open, {:.1} MiB {} s and {:.1} MiB {} s after the last close → {:.0}% and {:.0}% of the growth given back",
        mib(before),
        mib(peak),
        mib(soon),
        SETTLE.as_secs(),
        mib(later),
        GIVE_BACK.as_secs(),
        given_back(soon),
        given_back(later),
    );
    Figure::new(
        TABLE,
        format!(
            "memory given back after {} connections close",
            thousands(n as u64)
        ),
        format!(
            "{:.0}% of the growth within {} s ({:.0}% after {} s)",
            given_back(later),
            GIVE_BACK.as_secs(),
            given_back(soon),
            SETTLE.as_secs()
        ),
    )
    .baseline(format!(
        "RSS {:.1} MiB before, {:.1} MiB with them open, {:.1} MiB after",
        mib(before),
        mib(peak),
        mib(later)
    ))
    .target(
        format!("≥ 50% within {} s", GIVE_BACK.as_secs()),
        given_back(later) >= 50.0,
    )
    .record()?;
    gateway.stop().await
}
