//! Up to a million subscribers of one entity through the whole push path of the local gateway:
//! the store, the planner, the push queue, the pushers, their signed `@connections` requests.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench scale -- [--subscribers 10000[,100000,…]] [--throttle-rps R]
//!     [--store embedded|dynamodb] [--real-clients K] [--direct] [--plan-threshold T]
//!     [--push-batch-connections B] [--out PATH]
//! ```
//! (`--store dynamodb` needs `DYNAMODB_ENDPOINT`, e.g. DynamoDB Local; each run uses a fresh
//! table.)
//!
//! Each run starts the `wspush-gateway` binary (see `support`), registers n − K virtual
//! connections (ids with no socket, each subscribed to the entity in the store, whose pushes the
//! gateway counts after the same checks as a socket's: `/_gateway/virtual-connections`) and
//! connects K real WebSocket clients subscribed to the same entity (default 1,000, at most a
//! tenth of n), so a million subscribers fit in one machine's descriptors (20,000 a process
//! here: the clients in this process, their sockets and the pushers' in the gateway's). One
//! PutEvents of an "Entity Updated" event then reaches all of them, and the run waits until each
//! subscriber has its push, or until nothing arrives for 30 s. It prints, exactly:
//!
//! ```text
//! scale n=N delivered=D missing=M repeated=P secs=S pushes_per_s=X ideal_secs=I ratio=R
//! real clients=K exactly_once=E
//! ```
//! - delivered: subscribers with at least one copy; missing: n − delivered; repeated: copies
//!   beyond each subscriber's first (real clients included);
//! - secs: from PutEvents accepted to the last subscriber's first copy (a virtual
//!   connection's arrival is seen by polling the gateway's counts every 20 ms);
//! - pushes_per_s: (delivered + repeated) / secs;
//! - with `--throttle-rps R` only (the gateway then runs with `--throttle-rps R
//!   --push-rate-limit R`, so the pushers share R between them): `ideal_secs`, the account
//!   token bucket's own time for n calls, `max(0, n − burst) / R`, with the burst the gateway
//!   gives that throttle by default, half the rate (AWS's 10,000/s has a 5,000 burst); and
//!   `ratio = secs / ideal_secs`.
//!
//! The planner pushes through the push queue and the pushers because the gateway runs with
//! `--plan-threshold T` (default 1: every fan-out of two or more is planned); `--direct` sets
//! the threshold to n instead, so the events function pushes to everyone itself: the direct
//! path, for comparison. `--push-batch-connections B` gives the gateway that batch size (its
//! default is the deployed one, 1,000), to compare batch sizes. The bench exits non-zero when a subscriber is missing or a real
//! client did not get exactly one copy. `--out PATH` appends the lines to PATH too
//! (`scripts/bench.sh` writes them into `docs/scale-figures.md`).

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wspush_tools::cli::{arg, flag, number, numbers};
use wspush_tools::clients::{clients, Arrival, Closer};
use wspush_tools::local_api::{put_events, register_virtual, virtual_summary};
use wspush_tools::Fail;

/// How long a run waits without any new copy arriving before it counts what is missing.
const NO_PROGRESS: Duration = Duration::from_secs(30);

/// How often the gateway's virtual connection counts are read while a fan-out runs.
const POLL: Duration = Duration::from_millis(20);

/// How long a run keeps counting once everyone has a copy, to catch repeats.
const QUIET: Duration = Duration::from_secs(1);

/// Real clients at most: with their sockets in the gateway and the pushers' connections, more
/// would not fit the 20,000 descriptors a process may have here.
const MAX_REAL_CLIENTS: usize = 10_000;

/// What every run of one invocation shares.
struct Settings {
    /// DynamoDB Local's URL with `--store dynamodb`.
    endpoint: Option<String>,
    /// The account throttle and the pushers' shared rate, calls a second.
    throttle_rps: Option<u32>,
    real_clients: usize,
    direct: bool,
    plan_threshold: usize,
    /// `--push-batch-connections` for the gateway, when given (else its default).
    batch_connections: Option<usize>,
    out: Option<String>,
}

/// One run's figures.
struct Run {
    n: usize,
    delivered: usize,
    repeated: usize,
    secs: f64,
    /// The token bucket's time for n calls, with a throttle.
    ideal_secs: Option<f64>,
    real_clients: usize,
    exactly_once: usize,
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let sizes = numbers(&args, "--subscribers", "10000")?;
    let settings = settings(&args)?;
    let runtime = wspush_tools::cli::runtime()?;
    let mut failed = Vec::new();
    for n in sizes {
        let run = runtime.block_on(run(n, &settings))?;
        let lines = run.lines();
        for line in &lines {
            println!("{line}");
        }
        append(settings.out.as_deref(), &lines)?;
        if !run.complete() {
            failed.push(n);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("runs with a missing subscriber or a real client without exactly one copy: n = {failed:?}").into())
    }
}

fn settings(args: &[String]) -> Result<Settings, Fail> {
    let (_, endpoint) = wspush_tools::cli::store(args)?;
    let throttle_rps =
        match arg(args, "--throttle-rps") {
            None => None,
            Some(rate) => Some(rate.parse::<u32>().ok().filter(|r| *r > 0).ok_or_else(|| {
                format!("--throttle-rps: {rate:?} is not a whole number above 0")
            })?),
        };
    let real_clients = number(args, "--real-clients", 1_000)?;
    if real_clients > MAX_REAL_CLIENTS {
        return Err(format!(
            "--real-clients {real_clients}: at most {MAX_REAL_CLIENTS}, so the clients, their \
             sockets in the gateway and the pushers' connections fit the descriptor limit"
        )
        .into());
    }
    Ok(Settings {
        endpoint,
        throttle_rps,
        real_clients,
        direct: flag(args, "--direct"),
        plan_threshold: number(args, "--plan-threshold", 1)?,
        batch_connections: arg(args, "--push-batch-connections")
            .map(|_| number(args, "--push-batch-connections", 0))
            .transpose()?,
        out: arg(args, "--out"),
    })
}

impl Run {
    fn missing(&self) -> usize {
        self.n.saturating_sub(self.delivered)
    }

    fn complete(&self) -> bool {
        self.missing() == 0 && self.exactly_once == self.real_clients
    }

    /// The figure line and the real clients' line.
    fn lines(&self) -> [String; 2] {
        let pushes = (self.delivered + self.repeated) as f64;
        let per_s = if self.secs > 0.0 {
            pushes / self.secs
        } else {
            0.0
        };
        let mut figure = format!(
            "scale n={} delivered={} missing={} repeated={} secs={:.2} pushes_per_s={per_s:.0}",
            self.n,
            self.delivered,
            self.missing(),
            self.repeated,
            self.secs
        );
        if let Some(ideal) = self.ideal_secs {
            let ratio = if ideal > 0.0 {
                format!("{:.3}", self.secs / ideal)
            } else {
                "inf".to_string()
            };
            figure.push_str(&format!(" ideal_secs={ideal:.2} ratio={ratio}"));
        }
        let clients = format!(
            "real clients={} exactly_once={}",
            self.real_clients, self.exactly_once
        );
        [figure, clients]
    }
}

fn append(out: Option<&str>, lines: &[String]) -> Result<(), Fail> {
    let Some(path) = out else { return Ok(()) };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("--out {path}: {e}"))?;
    for line in lines {
        writeln!(file, "{line}")?;
    }
    Ok(())
}

/// The gateway's options for a run with `n` subscribers.
fn gateway_options(n: usize, settings: &Settings) -> Vec<String> {
    let mut options = wspush_tools::gateway::store_options(settings.endpoint.as_deref());
    let threshold = if settings.direct {
        n
    } else {
        settings.plan_threshold
    };
    options.extend(["--plan-threshold".to_string(), threshold.to_string()]);
    if let Some(batch) = settings.batch_connections {
        options.extend(["--push-batch-connections".to_string(), batch.to_string()]);
    }
    if let Some(rate) = settings.throttle_rps {
        for flag in ["--throttle-rps", "--push-rate-limit"] {
            options.extend([flag.to_string(), rate.to_string()]);
        }
    }
    options
}

/// The account token bucket's time for `n` calls at `rate` a second, starting full with the
/// gateway's default burst for that rate (half of it).
fn ideal_secs(n: usize, rate: u32) -> f64 {
    let burst = (f64::from(rate) / 2.0).max(1.0).floor();
    (n as f64 - burst).max(0.0) / f64::from(rate)
}

/// One gateway, its n subscribers, one event, and what reached them.
async fn run(n: usize, settings: &Settings) -> Result<Run, Fail> {
    let gateway = support::start_gateway(&gateway_options(n, settings)).await?;
    let addr = gateway.addr;
    let entity = format!("scale-{}", uuid::Uuid::new_v4().simple());
    let real = settings.real_clients.min(n / 10);
    let setup = Instant::now();
    if n > real {
        register_virtual(addr, &entity, n - real).await?;
    }
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let closers = clients(addr, 0, real, Some(&entity), &tx).await?;
    eprintln!(
        "scale n={n}: {} virtual and {real} real subscribers ready in {:.1} s",
        n - real,
        setup.elapsed().as_secs_f64()
    );
    put_events(addr, &entity).await?;
    let started = Instant::now();
    let seen = watch(addr, n - real, real, started, &mut arrivals).await?;
    drop::<Vec<Closer>>(closers);
    gateway.stop().await?;
    Ok(Run {
        n,
        delivered: seen.virtual_delivered + seen.real_delivered(),
        repeated: seen.virtual_repeated + seen.real_repeated(),
        secs: seen.last.map_or(0.0, |last| (last - started).as_secs_f64()),
        ideal_secs: settings.throttle_rps.map(|rate| ideal_secs(n, rate)),
        real_clients: real,
        exactly_once: seen.real_copies.values().filter(|c| **c == 1).count(),
    })
}

/// What the subscribers received, and when the last first copy arrived.
#[derive(Default)]
struct Seen {
    virtual_delivered: usize,
    virtual_repeated: usize,
    /// Copies per real client, by index (absent: none).
    real_copies: HashMap<usize, usize>,
    last: Option<Instant>,
}

impl Seen {
    fn real_delivered(&self) -> usize {
        self.real_copies.len()
    }

    fn real_repeated(&self) -> usize {
        self.real_copies.values().map(|c| c - 1).sum()
    }

    /// Counts the real clients' copies so far; whether any first copy arrived.
    fn drain(&mut self, arrivals: &mut mpsc::UnboundedReceiver<Arrival>) -> bool {
        let mut progress = false;
        while let Ok((index, at)) = arrivals.try_recv() {
            let copies = self.real_copies.entry(index).or_insert(0);
            *copies += 1;
            if *copies == 1 {
                self.last = self.last.max(Some(at));
                progress = true;
            }
        }
        progress
    }

    /// Takes the gateway's virtual counts; whether a virtual connection got its first copy.
    async fn poll(&mut self, addr: SocketAddr) -> Result<bool, Fail> {
        let summary = virtual_summary(addr).await?;
        let delivered = usize::try_from(summary.delivered)?;
        self.virtual_repeated = usize::try_from(summary.repeated)?;
        let progress = delivered > self.virtual_delivered;
        if progress {
            self.virtual_delivered = delivered;
            self.last = self.last.max(Some(Instant::now()));
        }
        Ok(progress)
    }
}

/// Follows the fan-out until every subscriber has a copy or nothing arrives for
/// [`NO_PROGRESS`], then counts repeats for [`QUIET`] more.
async fn watch(
    addr: SocketAddr,
    virtual_n: usize,
    real_n: usize,
    started: Instant,
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
) -> Result<Seen, Fail> {
    let mut seen = Seen::default();
    let mut progress_at = started;
    loop {
        let real = seen.drain(arrivals);
        let virtual_progress = seen.poll(addr).await?;
        if real || virtual_progress {
            progress_at = Instant::now();
        }
        if seen.virtual_delivered >= virtual_n && seen.real_delivered() >= real_n {
            break;
        }
        if progress_at.elapsed() > NO_PROGRESS {
            eprintln!(
                "scale: nothing new for {} s; counting what is missing",
                NO_PROGRESS.as_secs()
            );
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let last = seen.last;
    tokio::time::sleep(QUIET).await;
    seen.drain(arrivals);
    seen.poll(addr).await?;
    // Repeats count; the time stays that of the last first copy.
    seen.last = last.or(seen.last);
    Ok(seen)
}
