//! The runtime's adaptive fan-out against the gateway's account throttle and latency, on the
//! real `@connections` HTTP API: every subscriber gets exactly one copy, the 429s are counted
//! and retried, nothing fails. (How fast is measured by `benches/perf/limits.rs`, not here.)

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{management, TestGateway};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use wspush_gateway::{GatewayConfig, Throttle};
use wspush_runtime::config::PushSettings;
use wspush_runtime::fanout::fan_out;
use wspush_runtime::push::ManagementApiPusher;

const CLIENTS: usize = 150;

async fn run(config: GatewayConfig, settings: PushSettings) -> wspush_runtime::fanout::Tally {
    let gw = TestGateway::start_with(config).await;
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        clients.push(gw.connect(&format!("user-{i}")).await);
    }
    let ids = gw.state.registry().ids();
    assert_eq!(ids.len(), CLIENTS);
    let pusher = ManagementApiPusher::new(management(&gw));
    let tally = fan_out(&gw.store, &pusher, &settings, ids, br#"{"n":1}"#).await;

    // Each client: exactly one frame, and nothing after it (a late copy would have arrived
    // within this wait: every push was answered before `fan_out` returned).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut copies: HashMap<usize, usize> = HashMap::new();
    for (i, client) in clients.iter_mut().enumerate() {
        loop {
            match tokio::time::timeout(Duration::from_millis(20), client.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    assert_eq!(text.as_str(), r#"{"n":1}"#);
                    *copies.entry(i).or_default() += 1;
                }
                Ok(Some(Ok(_))) => continue,
                _ => break,
            }
        }
    }
    for i in 0..CLIENTS {
        assert_eq!(copies.get(&i), Some(&1), "client {i}: {copies:?}");
    }
    drop(clients);
    gw.stop().await;
    tally
}

fn settings() -> PushSettings {
    PushSettings {
        // Enough attempts that the test shows the pacing, not luck with retries.
        max_attempts: 8,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(100),
        ..PushSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_throttle_every_subscriber_gets_exactly_one_copy() {
    let config = GatewayConfig {
        // Tight enough that even a fan-out slowed by a busy machine exceeds it: avoiding
        // every 429 would take 150 calls spread over 1.4 s.
        throttle: Some(Throttle {
            rate_per_sec: 100.0,
            burst: 10,
        }),
        ..GatewayConfig::default()
    };
    let tally = run(config, settings()).await;
    assert_eq!(tally.recipients, CLIENTS);
    assert_eq!(tally.delivered, CLIENTS, "{tally:?}");
    assert_eq!((tally.failed, tally.gone), (0, 0), "{tally:?}");
    assert!(
        tally.throttled > 0,
        "the burst of 10 was exceeded: {tally:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_latency_and_throttle_every_subscriber_gets_exactly_one_copy() {
    let config = GatewayConfig {
        throttle: Some(Throttle {
            rate_per_sec: 500.0,
            burst: 20,
        }),
        connections_latency: Duration::from_millis(20),
        ..GatewayConfig::default()
    };
    let tally = run(config, settings()).await;
    assert_eq!(tally.delivered, CLIENTS, "{tally:?}");
    assert_eq!(tally.failed, 0, "{tally:?}");
}
