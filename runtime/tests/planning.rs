//! The planned fan-out end to end inside the runtime: the events function's planner sends push
//! batches to a push queue over SQS's wire protocol (`SendMessageBatch`, here a fake SQS on
//! 127.0.0.1), and the pushers, fed those very messages as SQS records, push every connection
//! once, through a fake `@connections`.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use support::{keys, quick_push_settings, FakeConnections, Served};
use wspush_runtime::access::SubscribeAccess;
use wspush_runtime::config::PlanSettings;
use wspush_runtime::event_kind::{EventKind, EventKinds};
use wspush_runtime::push_queue::SqsPushQueue;
use wspush_runtime::store::{ConnectionStore, MemoryStore};
use wspush_runtime::{aws, Deps, Runtime};

/// What the fake SQS received, and how many of the next entries it fails.
#[derive(Default)]
struct Received {
    /// Each accepted entry: its body and its message attributes.
    entries: Vec<(String, Value)>,
    targets: Vec<String>,
    fail_next: usize,
}

/// A fake SQS taking `SendMessageBatch` on `POST /`. Stops when dropped.
struct FakeSqs {
    url: String,
    received: Arc<Mutex<Received>>,
    _served: Served,
}

async fn send_message_batch(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).expect("SendMessageBatch is JSON");
    let mut received = received.lock().expect("fake SQS lock");
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    received.targets.push(target.to_string());
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for entry in request["Entries"].as_array().expect("Entries") {
        let id = entry["Id"].clone();
        if received.fail_next > 0 {
            received.fail_next -= 1;
            failed.push(json!({"Id": id, "SenderFault": false, "Code": "InternalError", "Message": "try again"}));
            continue;
        }
        let body = entry["MessageBody"].as_str().expect("body").to_string();
        received
            .entries
            .push((body, entry["MessageAttributes"].clone()));
        successful.push(json!({"Id": id, "MessageId": "m", "MD5OfMessageBody": "x"}));
    }
    axum::Json(json!({"Successful": successful, "Failed": failed})).into_response()
}

impl FakeSqs {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/", post(send_message_batch))
            .with_state(received.clone());
        let served = Served::start(app).await;
        Self {
            url: format!("{}/000000000000/push", served.url),
            received,
            _served: served,
        }
    }

    fn entries(&self) -> Vec<(String, Value)> {
        self.received.lock().expect("lock").entries.clone()
    }
}

/// A runtime planning above `threshold` recipients into batches of `per_batch`.
fn runtime(
    store: Arc<MemoryStore>,
    connections: &FakeConnections,
    sqs: &FakeSqs,
    plan: PlanSettings,
) -> Runtime {
    let sdk = aws::local_sdk_config("us-east-1");
    Runtime::new(Deps {
        store,
        pusher: Some(aws::pusher(
            &sdk,
            &connections.endpoint,
            wspush_runtime::config::PushClient::default(),
        )),
        dead_letters: None,
        tokens: Some(keys()),
        access: Arc::new(SubscribeAccess::allow_all()),
        token_leeway_secs: 30,
        record_ttl: std::time::Duration::from_secs(3600),
        push: quick_push_settings(),
        push_queue: Some(Arc::new(SqsPushQueue::new(
            sqs.url.clone(),
            "us-east-1".into(),
            sdk.credentials_provider(),
        ))),
        plan,
        history: wspush_runtime::config::default_retention(),
        test_tokens_enabled: false,
    })
}

async fn subscribe_many(store: &MemoryStore, entity: &str, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("{entity}-conn-{i}")).collect();
    store
        .put_subscriptions(entity, &ids, i64::MAX)
        .await
        .expect("seed");
    ids
}

fn entity_updated(entity: &str, message: Value) -> Value {
    json!({
        "version": "0", "id": format!("event-{entity}"), "detail-type": "Entity Updated",
        "source": "test", "account": "000000000000", "time": "2026-12-06T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"entityId": entity, "message": message}
    })
}

/// The SQS event the push queue's event source mapping sends for these entries.
fn push_queue_event(entries: &[(String, Value)]) -> Value {
    let records: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (body, attributes))| {
            let kind = &attributes["WSPUSH_KIND"];
            json!({
                "messageId": format!("m{i}"), "receiptHandle": "r", "body": body,
                "attributes": {}, "md5OfBody": "",
                "messageAttributes": {"WSPUSH_KIND": {"dataType": kind["DataType"], "stringValue": kind["StringValue"]}},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:push",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({"Records": records})
}

#[tokio::test]
async fn a_large_audience_is_planned_into_batches_that_reach_everyone_once() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    let store = Arc::new(MemoryStore::new());
    let ids = subscribe_many(&store, "hot", 2_500).await;
    let plan = PlanSettings {
        threshold: 1_000,
        batch_connections: 1_000,
    };
    let runtime = runtime(store.clone(), &connections, &sqs, plan);

    let tally = runtime
        .handle(entity_updated("hot", json!({"n": 1})))
        .await
        .expect("planned");
    assert_eq!(tally["queued"], 2_500);
    assert_eq!(tally["batches"], 3);
    assert_eq!(
        connections.total_delivered(),
        0,
        "the planner pushes nothing itself"
    );
    let entries = sqs.entries();
    assert_eq!(entries.len(), 3);
    assert!(sqs
        .received
        .lock()
        .expect("lock")
        .targets
        .iter()
        .all(|t| t == "AmazonSQS.SendMessageBatch"));

    let answer = runtime
        .handle(push_queue_event(&entries))
        .await
        .expect("pushed");
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(connections.total_delivered(), 2_500);
    for id in &ids {
        let frames = connections.delivered(id);
        assert_eq!(frames.len(), 1, "{id} got {} copies", frames.len());
        assert_eq!(frames[0]["serial"], 1);
        assert_eq!(frames[0]["message"], json!({"n": 1}));
    }
}

#[tokio::test]
async fn a_small_audience_is_pushed_directly() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    let store = Arc::new(MemoryStore::new());
    subscribe_many(&store, "calm", 10).await;
    let runtime = runtime(store, &connections, &sqs, PlanSettings::default());
    let tally = runtime
        .handle(entity_updated("calm", json!("hi")))
        .await
        .expect("pushed");
    assert_eq!(tally["delivered"], 10);
    assert_eq!(tally["queued"], 0);
    assert!(sqs.entries().is_empty());
}

#[tokio::test]
async fn a_large_frame_is_read_from_history_once_per_batch() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    let store = Arc::new(MemoryStore::new());
    let ids = subscribe_many(&store, "big", 30).await;
    let plan = PlanSettings {
        threshold: 10,
        batch_connections: 10,
    };
    let runtime = runtime(store, &connections, &sqs, plan);
    let text = "x".repeat(40 * 1024);
    runtime
        .handle(entity_updated("big", json!(text)))
        .await
        .expect("planned");
    let entries = sqs.entries();
    assert_eq!(entries.len(), 3);
    for (body, _) in &entries {
        let batch: Value = serde_json::from_str(body).expect("batch JSON");
        assert!(
            batch.get("frame").is_none(),
            "a 40 KB frame travels by position"
        );
        assert_eq!(batch["position"]["serial"], 1);
        assert!(
            body.len() < 2_000,
            "a batch of 10 is small: {} bytes",
            body.len()
        );
    }
    runtime
        .handle(push_queue_event(&entries))
        .await
        .expect("pushed");
    for id in &ids {
        let frames = connections.delivered(id);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0]["message"], json!(text));
        assert_eq!(frames[0]["serial"], 1);
    }
}

#[tokio::test]
async fn entries_the_queue_fails_are_sent_again() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    sqs.received.lock().expect("lock").fail_next = 2;
    let store = Arc::new(MemoryStore::new());
    subscribe_many(&store, "retry", 50).await;
    let plan = PlanSettings {
        threshold: 1,
        batch_connections: 10,
    };
    let runtime = runtime(store, &connections, &sqs, plan);
    runtime
        .handle(entity_updated("retry", json!(1)))
        .await
        .expect("planned despite two failed entries");
    assert_eq!(
        sqs.entries().len(),
        5,
        "every batch once, the failed two sent again"
    );
}

#[tokio::test]
async fn a_batch_whose_message_left_history_fails_with_the_reason() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    let runtime = runtime(
        Arc::new(MemoryStore::new()),
        &connections,
        &sqs,
        PlanSettings::default(),
    );
    let batch = json!({
        "eventId": "e", "entityId": "gone",
        "position": {"streamId": "0".repeat(32), "serial": 9},
        "recipients": [["c1", null]]
    })
    .to_string();
    let attributes = json!({"WSPUSH_KIND": {"DataType": "String", "StringValue": "push-batch"}});
    let answer = runtime
        .handle(push_queue_event(&[(batch, attributes)]))
        .await
        .expect("answered");
    // No dead-letter queue is configured here, so the record is reported failed (received
    // again, then moved by SQS); with one, it goes there at once with MessageLeftHistory.
    assert_eq!(answer["batchItemFailures"][0]["itemIdentifier"], "m0");
    assert_eq!(connections.total_delivered(), 0);
}

#[tokio::test]
async fn each_function_serves_only_its_own_queue() {
    let (connections, sqs) = (FakeConnections::start().await, FakeSqs::start().await);
    let store = Arc::new(MemoryStore::new());
    subscribe_many(&store, "e", 3).await;
    let plan = PlanSettings {
        threshold: 1,
        batch_connections: 10,
    };
    let all = runtime(store, &connections, &sqs, plan);
    all.handle(entity_updated("e", json!(1)))
        .await
        .expect("planned");
    let entries = sqs.entries();

    let events_only = all.restricted(EventKinds::only(&[EventKind::Sqs, EventKind::EventBridge]));
    let refused = events_only
        .handle(push_queue_event(&entries))
        .await
        .expect_err("the events function does not push batches");
    assert!(refused.to_string().contains("push-batch"), "{refused}");

    let pushers_only = all.restricted(EventKinds::only(&[EventKind::PushBatch]));
    let event_record = json!({"Records": [{
        "messageId": "m", "body": entity_updated("e", json!(2)).to_string(),
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:0:entity-updated"
    }]});
    let refused = pushers_only
        .handle(event_record)
        .await
        .expect_err("a pusher does not plan events");
    assert!(refused.to_string().contains("sqs"), "{refused}");

    let mut mixed = push_queue_event(&entries);
    mixed["Records"]
        .as_array_mut()
        .expect("records")
        .push(json!({"messageId": "x", "body": "{}", "eventSource": "aws:sqs"}));
    let refused = all.handle(mixed).await.expect_err("one queue per event");
    assert!(refused.to_string().contains("push batches"), "{refused}");
}
