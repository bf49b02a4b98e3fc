//! Fan-out time through the local gateway: one PutEvents to N subscribers of one entity.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench fanout -- [--subscribers 1000,10000] [--store embedded|dynamodb]
//! ```
//! (`--store dynamodb` needs `DYNAMODB_ENDPOINT`, e.g. DynamoDB Local; a fresh table is used.)
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

mod support;

use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::primitives::Blob;
use support::{
    arg, clients, collect, connection_ids, ms, no_more_frames, numbers, put_events, start_gateway,
    Fail,
};
use tokio::sync::mpsc;

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let store = arg(&args, "--store").unwrap_or_else(|| "embedded".into());
    let sizes = numbers(&args, "--subscribers", "1000,10000")?;
    let endpoint = match store.as_str() {
        "embedded" => None,
        "dynamodb" => Some(std::env::var("DYNAMODB_ENDPOINT").map_err(|_| {
            "--store dynamodb needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string()
        })?),
        other => return Err(format!("--store must be embedded or dynamodb, not {other}").into()),
    };
    let runtime = support::runtime()?;
    println!("fan-out bench, {store} store, subscribers {sizes:?}");
    for n in sizes {
        runtime.block_on(measure(n, &store, endpoint.clone()))?;
    }
    Ok(())
}

async fn measure(n: usize, store: &str, endpoint: Option<String>) -> Result<(), Fail> {
    let options = match endpoint {
        Some(endpoint) => vec![
            "--dynamodb-endpoint".to_string(),
            endpoint,
            "--table".to_string(),
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ],
        None => Vec::new(),
    };
    let gateway = start_gateway(&options).await?;
    let addr = gateway.addr;
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (tx, mut arrivals) = mpsc::unbounded_channel();

    let setup = Instant::now();
    let closers = clients(addr, 0, n, Some(&entity), &tx).await?;
    let setup = setup.elapsed();

    // The fan-out.
    let started = Instant::now();
    put_events(addr, &entity).await?;
    let (fanout_all, fanout_median) = collect(n, started, &mut arrivals).await?;
    no_more_frames(&mut arrivals, Duration::from_millis(500)).await?;

    // The baseline: N sequential PostToConnection calls, each awaited.
    let ids = connection_ids(addr).await?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let api = wspush_runtime::aws::management_client(&sdk, &format!("http://{addr}/production"));
    let started = Instant::now();
    for id in &ids {
        api.post_to_connection()
            .connection_id(id)
            .data(Blob::new(r#"{"type":"Pong"}"#))
            .send()
            .await?;
    }
    let (baseline_all, _) = collect(n, started, &mut arrivals).await?;

    println!(
        "{store:>8} n={n:>6}: fan-out {:>8.1} ms (median client {:>7.1} ms) | baseline sequential @connections {:>8.1} ms | ratio {:.2} (target <= 0.15: {}) | {:.0} pushes/s | setup {:.1} s",
        ms(fanout_all),
        ms(fanout_median),
        ms(baseline_all),
        ms(fanout_all) / ms(baseline_all),
        if ms(fanout_all) / ms(baseline_all) <= 0.15 { "met" } else { "NOT met" },
        n as f64 / fanout_all.as_secs_f64(),
        setup.as_secs_f64(),
    );
    drop(closers);
    gateway.stop().await
}
