//! The `bootstrap` binary's own peak memory for one fan-out through the local gateway, as
//! Lambda sees it: the process's high-water mark of resident memory (`VmHWM`), which is what
//! Lambda's `Max Memory Used` reports.
//!
//! ```text
//! DYNAMODB_ENDPOINT=http://127.0.0.1:8000 cargo run --release -p wspush-tools --bin lambda-memory -- \
//!     --bootstrap target/release/bootstrap --gateway target/release/wspush-gateway [--subscribers 10000]
//! ```
//!
//! The gateway runs on DynamoDB Local (a fresh table) and holds N subscribed clients of this
//! process. The `bootstrap` runs as the events function would (`EVENT_KINDS=sqs,eventbridge`,
//! its DynamoDB endpoint DynamoDB Local, its `MANAGEMENT_ENDPOINT` the gateway's
//! `@connections`) under the wire-level fake of the Lambda Runtime API, which hands it one SQS
//! batch holding one "Entity Updated" event. Figures, in the same run: `VmHWM` after the cold
//! start (waiting for its first invocation), after a one-subscriber event, and after the
//! N-subscriber event; every client must hold exactly one copy.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wspush_tools::bootstrap::{delivered_answer, sqs_batch, EventsFunction};
use wspush_tools::clients::{clients, collect, Arrival, Closer};
use wspush_tools::gateway::{start_gateway, Gateway};
use wspush_tools::report::{mib, ms, Figure};
use wspush_tools::runtime_api::RuntimeApi;
use wspush_tools::{cli, procfs, Fail};

const TABLE: &str = "The `bootstrap`'s memory through the local gateway (`lambda-memory`)";
const BOOT_LIMIT: Duration = Duration::from_secs(60);
const ANSWER_LIMIT: Duration = Duration::from_secs(120);

struct Settings {
    subscribers: usize,
    dynamodb: String,
    bootstrap: PathBuf,
    gateway: String,
}

/// `--name PATH`, or the environment variable `env` when the option is absent.
fn path(args: &[String], name: &str, env: &str) -> Result<String, Fail> {
    cli::arg(args, name)
        .or_else(|| std::env::var(env).ok())
        .ok_or_else(|| format!("needs {name} PATH (or {env})").into())
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings {
        subscribers: cli::number(&args, "--subscribers", 10_000)?,
        dynamodb: std::env::var("DYNAMODB_ENDPOINT")
            .map_err(|_| "needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string())?,
        bootstrap: path(&args, "--bootstrap", "WSPUSH_BOOTSTRAP_BIN")?.into(),
        gateway: path(&args, "--gateway", "WSPUSH_GATEWAY_BIN")?,
    };
    cli::runtime()?.block_on(run(&settings))
}

/// The gateway on a fresh DynamoDB Local table, N clients subscribed to one entity and one to
/// another (the one-subscriber event).
struct Audience {
    gateway: Gateway,
    table: String,
    entity: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    closers: Vec<Closer>,
}

async fn audience(settings: &Settings) -> Result<Audience, Fail> {
    let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let options = [
        "--dynamodb-endpoint".to_string(),
        settings.dynamodb.clone(),
        "--table".to_string(),
        table.clone(),
    ];
    let gateway = start_gateway(&settings.gateway, &options).await?;
    let (tx, arrivals) = mpsc::unbounded_channel();
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let n = settings.subscribers;
    let setup = Instant::now();
    let mut closers = clients(gateway.addr, 0, n, Some(&entity), &tx).await?;
    closers.extend(clients(gateway.addr, n, 1, Some("one-subscriber"), &tx).await?);
    println!(
        "lambda memory bench: {n} subscribers on DynamoDB Local (set up in {:.1} s)",
        setup.elapsed().as_secs_f64()
    );
    Ok(Audience {
        gateway,
        table,
        entity,
        arrivals,
        closers,
    })
}

/// Hands the function one SQS batch for `entity` and waits for its answer, with no failed
/// record.
async fn invoke(api: &RuntimeApi, id: &str, entity: &str) -> Result<(), Fail> {
    let before = api.answers().len();
    api.invoke(id, sqs_batch(entity));
    if !api
        .wait(ANSWER_LIMIT, |api| api.answers().len() > before)
        .await
    {
        return Err(format!("no answer from bootstrap to {id} within {ANSWER_LIMIT:?}").into());
    }
    delivered_answer(&api.answers(), id)?;
    Ok(())
}

/// KiB figures of one run, and the fan-out's times.
struct Memory {
    cold: u64,
    small: u64,
    peak: u64,
    rss: u64,
    invocation: Duration,
    all: Duration,
}

async fn run(settings: &Settings) -> Result<(), Fail> {
    let mut audience = audience(settings).await?;
    let api = RuntimeApi::start().await?;
    let management_endpoint = format!("http://{}/production", audience.gateway.addr);
    let function = EventsFunction {
        bootstrap: &settings.bootstrap,
        dynamodb: &settings.dynamodb,
        table: &audience.table,
        management_endpoint: &management_endpoint,
        push_client: None,
    };
    let mut child = function
        .command(&api)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", settings.bootstrap.display()))?;
    let pid = child.id().ok_or("bootstrap exited at once")?;
    let memory = measure(settings.subscribers, &api, pid, &mut audience).await?;
    child.kill().await?;
    api.stop().await;
    report(settings.subscribers, &memory)?;
    drop(audience.closers);
    audience.gateway.stop().await
}

/// `VmHWM` after the cold start, after the one-subscriber event, after the N-subscriber one.
async fn measure(
    n: usize,
    api: &RuntimeApi,
    pid: u32,
    audience: &mut Audience,
) -> Result<Memory, Fail> {
    if !api.wait(BOOT_LIMIT, |api| api.first_next().is_some()).await {
        return Err("bootstrap never asked for an invocation".into());
    }
    let cold = procfs::status_kib(pid, "VmHWM")?;
    invoke(api, "one", "one-subscriber").await?;
    let small = procfs::status_kib(pid, "VmHWM")?;
    // The one-subscriber client's frame.
    let _ = audience.arrivals.recv().await;

    let started = Instant::now();
    invoke(api, "fan-out", &audience.entity).await?;
    let invocation = started.elapsed();
    let (all, _) = collect(n, started, &mut audience.arrivals).await?;
    Ok(Memory {
        cold,
        small,
        peak: procfs::status_kib(pid, "VmHWM")?,
        rss: procfs::status_kib(pid, "VmRSS")?,
        invocation,
        all,
    })
}

fn report(n: usize, m: &Memory) -> Result<(), Fail> {
    println!(
        "  bootstrap VmHWM: {:.1} MiB after cold start, {:.1} MiB after a 1-subscriber event, {:.1} MiB after the {n}-subscriber event (RSS now {:.1} MiB); invocation {:.0} ms, every client one copy by {:.0} ms",
        mib(m.cold),
        mib(m.small),
        mib(m.peak),
        mib(m.rss),
        ms(m.invocation),
        ms(m.all),
    );
    Figure::new(
        TABLE,
        format!("peak resident memory (`VmHWM`), one {n}-subscriber fan-out"),
        format!(
            "{:.1} MiB ({:.1} MiB resident after it)",
            mib(m.peak),
            mib(m.rss)
        ),
    )
    .baseline(format!(
        "{:.1} MiB after the cold start, {:.1} MiB after a 1-subscriber event",
        mib(m.cold),
        mib(m.small)
    ))
    .ratio(m.peak as f64 / m.cold as f64)
    .purpose("sets `EventsMemoryMb` (docs/deploy.md)")
    .record()?;
    Figure::new(
        TABLE,
        format!("the {n}-subscriber invocation"),
        format!(
            "answered in {:.0} ms; every client held exactly one copy by {:.0} ms",
            ms(m.invocation),
            ms(m.all)
        ),
    )
    .record()?;
    Ok(())
}
