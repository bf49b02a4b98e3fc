//! The fan-out against a wire-level fake `@connections` API answering 200, 410, 429 and 500:
//! a gone connection is cleaned up, throttled and failing ones are retried, and everybody
//! else receives exactly one message.

mod support;

use std::sync::Arc;

use serde_json::json;
use support::{fixture, pushers, quick_push_settings, runtime, FakeConnections};
use wspush_runtime::fanout::{fan_out, Tally};
use wspush_runtime::push::PushOutcome;
use wspush_runtime::store::{ConnectionRecord, ConnectionStore, MemoryStore};
use wspush_runtime::HandlerError;

async fn connect(store: &MemoryStore, id: &str, user: &str, entity: &str) {
    let record = ConnectionRecord {
        connection_id: id.into(),
        user_id: user.into(),
        connected_at_ms: 0,
        ip_address: None,
        expires_at: i64::MAX,
        token_expires_at: None,
    };
    store.put_connection(&record).await.expect("put connection");
    store
        .put_subscription(id, entity, i64::MAX)
        .await
        .expect("put subscription");
}

#[tokio::test]
async fn status_codes_map_to_outcomes() {
    let connections = FakeConnections::start().await;
    for (client, pusher) in pushers(&connections.endpoint) {
        status_codes_map_to_outcomes_with(&connections, &format!("{client:?}"), pusher.as_ref())
            .await;
    }
}

async fn status_codes_map_to_outcomes_with(
    connections: &FakeConnections,
    client: &str,
    pusher: &dyn wspush_runtime::push::Pusher,
) {
    let cases = [
        (410, "gone"),
        (429, "throttled"),
        (500, "unavailable"),
        (503, "unavailable"),
        (403, "rejected"),
    ];
    for (status, expected) in cases {
        let id = format!("{client}-{status}=");
        connections.script(&id, &[status]);
        let outcome = pusher.post_to_connection(&id, b"{}").await;
        let kind = match outcome {
            PushOutcome::Delivered => "delivered",
            PushOutcome::Gone => "gone",
            PushOutcome::Throttled(_) => "throttled",
            PushOutcome::Unavailable(_) => "unavailable",
            PushOutcome::Rejected(_) => "rejected",
        };
        assert_eq!(kind, expected, "{client}: status {status}");
        assert_eq!(
            connections.attempts(&id),
            1,
            "{client}: the client must not retry on its own"
        );
    }
    // API Gateway ids contain '=', '+' and '/': they must survive URL encoding.
    let odd = format!("R0o+XAd/fD0kwCH6w{client}=");
    let odd = odd.as_str();
    assert_eq!(
        pusher.post_to_connection(odd, b"{\"a\":1}").await,
        PushOutcome::Delivered
    );
    assert_eq!(connections.delivered(odd), vec![json!({"a": 1})]);
}

#[tokio::test]
async fn gone_connections_are_cleaned_up_and_everyone_else_gets_one_copy() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    for i in 0..40 {
        connect(
            &store,
            &format!("ok-{i}="),
            &format!("user-{i}"),
            "myEntityId",
        )
        .await;
    }
    connect(&store, "gone=", "user-gone", "myEntityId").await;
    connect(&store, "throttled=", "user-t", "myEntityId").await;
    connect(&store, "flaky=", "user-f", "myEntityId").await;
    connections.script("gone=", &[410]);
    connections.script("throttled=", &[429, 429]);
    connections.script("flaky=", &[500]);

    let rt = runtime(Arc::new(store.clone()), &connections, false).await;
    let tally = rt
        .handle(fixture("eventbridge-entity-updated.json"))
        .await
        .expect("fan-out");
    assert_eq!(
        tally,
        json!({"recipients": 43, "delivered": 42, "gone": 1, "failed": 0, "expired": 0, "throttled": 2, "queued": 0, "batches": 0})
    );

    for i in 0..40 {
        assert_eq!(
            connections.delivered(&format!("ok-{i}=")).len(),
            1,
            "ok-{i}"
        );
    }
    assert_eq!(connections.delivered("throttled=").len(), 1);
    assert_eq!(connections.attempts("throttled="), 3);
    assert_eq!(connections.delivered("flaky=").len(), 1);
    assert_eq!(
        connections.attempts("gone="),
        1,
        "410 is final, not retried"
    );
    assert!(connections.delivered("gone=").is_empty());
    assert!(
        store.connection("gone=").is_none(),
        "gone connection deleted"
    );
    let subscribers = support::ids(store.subscribers("myEntityId").await.expect("query"));
    assert!(
        !subscribers.contains(&"gone=".to_string()),
        "its subscriptions too"
    );
    assert_eq!(subscribers.len(), 42);
    assert_eq!(connections.total_delivered(), 42);
}

#[tokio::test]
async fn persistent_failures_fail_the_event_after_bounded_retries() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    connect(&store, "down=", "u1", "myEntityId").await;
    connect(&store, "up=", "u2", "myEntityId").await;
    connections.script("down=", &[500, 500, 500, 500, 500, 500]);
    let rt = runtime(Arc::new(store.clone()), &connections, false).await;
    let err = rt
        .handle(fixture("eventbridge-entity-updated.json"))
        .await
        .expect_err("one failed");
    assert!(
        matches!(
            err,
            HandlerError::Undelivered {
                recipients: 2,
                delivered: 1,
                gone: 0,
                failed: 1
            }
        ),
        "{err}"
    );
    assert!(!err.is_permanent(), "worth retrying the event");
    assert_eq!(
        connections.attempts("down="),
        quick_push_settings().max_attempts as usize
    );
    assert!(
        store.connection("down=").is_some(),
        "a failing connection is not deleted"
    );
}

#[tokio::test]
async fn duplicate_recipients_receive_one_copy() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    let [(_, pusher), _] = pushers(&connections.endpoint);
    let recipients = vec!["a=".to_string(), "b=".to_string(), "a=".to_string()];
    let tally = fan_out(
        &store,
        pusher.as_ref(),
        &quick_push_settings(),
        recipients,
        b"{}",
    )
    .await;
    assert_eq!(
        tally,
        Tally {
            recipients: 2,
            delivered: 2,
            gone: 0,
            failed: 0,
            expired: 0,
            throttled: 0,
            queued: 0,
            batches: 0,
        }
    );
    assert_eq!(connections.delivered("a=").len(), 1);
}
