//! The scale bench's short version: 10,000 subscribers of one entity (9,900 virtual
//! connections and 100 real WebSocket clients) through the planner, the push queue and the
//! pushers of the real `wspush-gateway` binary, on each store. Every subscriber gets exactly
//! one copy, and the push went the planned way (push batches sent, pushers invoked).
//!
//! A load test: `cargo test --workspace` leaves it out (ignored) and `scripts/test.sh` runs it
//! on its own, on both stores, so its thousands of pushes do not share two cores with every
//! other suite:
//!
//! ```text
//! DYNAMODB_ENDPOINT=http://127.0.0.1:8000 cargo test -p wspush-gateway --test scale -- --ignored
//! ```
//! (`embedded` in the test filter runs the embedded store's alone, with no DynamoDB Local.)

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use wspush_tools::clients::{clients, collect, no_more_frames};
use wspush_tools::gateway::{start_gateway, store_options};
use wspush_tools::local_api::{self, put_events, register_virtual, virtual_summary};

const VIRTUAL: usize = 9_900;
const REAL: usize = 100;

/// Recipients above which the events function plans instead of pushing itself.
const PLAN_THRESHOLD: &str = "1000";

/// How long the fan-out may take (a debug build, on two cores shared with the clients).
const DELIVERY: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a load test: scripts/test.sh runs it on its own (cargo test -p wspush-gateway --test scale -- --ignored)"]
async fn ten_thousand_subscribers_through_the_planner_on_the_embedded_store() {
    through_the_planner(None).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a load test: scripts/test.sh runs it on its own, with DynamoDB Local at DYNAMODB_ENDPOINT"]
async fn ten_thousand_subscribers_through_the_planner_on_dynamodb_local() {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "DYNAMODB_ENDPOINT is not set: run scripts/test.sh, which starts DynamoDB Local, \
             or filter this suite with `embedded`"
        )
    });
    through_the_planner(Some(&endpoint)).await;
}

async fn through_the_planner(endpoint: Option<&str>) {
    let mut options = store_options(endpoint);
    options.extend(["--plan-threshold".to_string(), PLAN_THRESHOLD.to_string()]);
    let gateway = start_gateway(env!("CARGO_BIN_EXE_wspush-gateway"), &options)
        .await
        .expect("the gateway starts");
    let addr = gateway.addr;
    let entity = format!("scale-{}", uuid::Uuid::new_v4().simple());
    register_virtual(addr, &entity, VIRTUAL)
        .await
        .expect("virtual connections registered");
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let closers = clients(addr, 0, REAL, Some(&entity), &tx)
        .await
        .expect("real clients subscribed");

    put_events(addr, &entity).await.expect("PutEvents accepted");
    let started = Instant::now();
    // Each real client exactly once (a second copy fails `collect`).
    collect(REAL, started, &mut arrivals)
        .await
        .expect("every real client got its copy");
    let summary = every_virtual_delivered(addr).await;
    no_more_frames(&mut arrivals, Duration::from_secs(1))
        .await
        .expect("no real client got a second copy");
    let after_quiet = virtual_summary(addr).await.expect("summary");
    assert_eq!(
        (summary.registered, summary.delivered, summary.missing),
        (VIRTUAL as u64, VIRTUAL as u64, 0),
        "{summary:?}"
    );
    assert_eq!(
        (after_quiet.repeated, after_quiet.received),
        (0, VIRTUAL as u64),
        "every virtual connection exactly once: {after_quiet:?}"
    );
    assert_planned(addr).await;
    drop(closers);
    gateway.stop().await.expect("the gateway stops");
}

/// The virtual connections' counts once all of them have a copy; fails after [`DELIVERY`].
async fn every_virtual_delivered(addr: std::net::SocketAddr) -> local_api::VirtualSummary {
    let deadline = Instant::now() + DELIVERY;
    loop {
        let summary = virtual_summary(addr).await.expect("summary");
        if summary.delivered == VIRTUAL as u64 {
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "not every virtual connection got its copy within {DELIVERY:?}: {summary:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The push went through the push queue and the pushers: batches were sent and received, and
/// the pushers ran.
async fn assert_planned(addr: std::net::SocketAddr) {
    let queues = local_api::queues(addr).await.expect("queues");
    let push_queue = named(&queues["queues"], wspush_contract::push_queue::NAME);
    let sent = push_queue["counts"]["sent"].as_u64().unwrap_or(0);
    let batches = (VIRTUAL + REAL).div_ceil(wspush_contract::defaults::PUSH_BATCH_CONNECTIONS);
    assert!(
        sent >= batches as u64,
        "{batches} push batches at least were sent: {push_queue}"
    );
    let functions = local_api::functions(addr).await.expect("functions");
    let pushers = named(&functions["functions"], "Pusher");
    assert!(
        pushers["invocations"].as_u64().unwrap_or(0) >= sent,
        "the pushers ran once per batch at least: {pushers}"
    );
    assert_eq!(pushers["errors"], 0, "{pushers}");
}

/// The element of `list` whose `name` is `name`.
fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|item| item["name"] == name))
        .unwrap_or_else(|| panic!("no {name:?} in {list}"))
}
