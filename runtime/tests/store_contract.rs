//! One contract, two stores: the suite below runs against the embedded [`MemoryStore`] and
//! against [`DynamoStore`] on DynamoDB Local (endpoint in `DYNAMODB_ENDPOINT`; `scripts/test.sh`
//! installs and starts it). Each DynamoDB test uses a table of its own.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt, TryStreamExt};

use support::{dynamodb_local, fixture, fresh_table, runtime, FakeConnections};

use wspush_runtime::store::{
    ConnectionRecord, ConnectionStore, DynamoStore, MemoryStore, Recipient, Removal, Subscribed,
    Subscription,
};

fn record(id: &str, user: &str) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.into(),
        user_id: user.into(),
        connected_at_ms: 1_707_502_303_419,
        ip_address: Some("192.0.2.1".into()),
        expires_at: 1_900_000_000,
        token_expires_at: None,
    }
}

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

fn ids(recipients: Vec<Recipient>) -> BTreeSet<String> {
    recipients.into_iter().map(|r| r.connection_id).collect()
}

fn names(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The behaviour every store must have.
async fn contract(store: &dyn ConnectionStore) {
    store
        .put_connection(&record("c1=", "alice"))
        .await
        .expect("put c1");
    store
        .put_connection(&record("c2=", "alice"))
        .await
        .expect("put c2");
    store
        .put_connection(&record("c3=", "bob"))
        .await
        .expect("put c3");
    assert_eq!(
        ids(store.user_connections("alice").await.expect("q")),
        names(&["c1=", "c2="])
    );
    assert_eq!(
        ids(store.user_connections("bob").await.expect("q")),
        names(&["c3="])
    );
    assert!(store
        .user_connections("nobody")
        .await
        .expect("q")
        .is_empty());

    for (conn, entity) in [("c1=", "e1"), ("c2=", "e1"), ("c3=", "e1"), ("c1=", "e2")] {
        store
            .put_subscription(conn, entity, 1_900_000_000)
            .await
            .expect("subscribe");
    }
    store
        .put_subscription("c1=", "e1", 1_900_000_000)
        .await
        .expect("repeat is harmless");
    assert_eq!(
        ids(store.subscribers("e1").await.expect("q")),
        names(&["c1=", "c2=", "c3="])
    );
    assert_eq!(
        ids(store.subscribers("e2").await.expect("q")),
        names(&["c1="])
    );
    // An entity id that equals a user id must not see that user's connections.
    store
        .put_subscription("c3=", "alice", 1_900_000_000)
        .await
        .expect("subscribe");
    assert_eq!(
        ids(store.subscribers("alice").await.expect("q")),
        names(&["c3="])
    );
    // Each connection's own subscriptions, read back by connection id.
    assert_eq!(
        set(store.subscriptions("c1=").await.expect("q")),
        names(&["e1", "e2"])
    );
    assert_eq!(
        set(store.subscriptions("c3=").await.expect("q")),
        names(&["alice", "e1"])
    );
    assert!(store.subscriptions("c9=").await.expect("q").is_empty());
    assert_eq!(
        ids(store.user_connections("alice").await.expect("q")),
        names(&["c1=", "c2="])
    );

    store
        .delete_subscription("c2=", "e1")
        .await
        .expect("unsubscribe");
    store
        .delete_subscription("c2=", "e1")
        .await
        .expect("unsubscribe twice");
    store
        .delete_subscription("c9=", "nothing")
        .await
        .expect("unknown is fine");
    assert_eq!(
        ids(store.subscribers("e1").await.expect("q")),
        names(&["c1=", "c3="])
    );
    assert!(store.subscriptions("c2=").await.expect("q").is_empty());

    assert_eq!(
        store.delete_connection("c1=").await.expect("disconnect"),
        Removal::complete(3)
    );
    assert_eq!(
        ids(store.subscribers("e1").await.expect("q")),
        names(&["c3="])
    );
    assert!(store.subscribers("e2").await.expect("q").is_empty());
    assert!(store.subscriptions("c1=").await.expect("q").is_empty());
    assert_eq!(
        ids(store.user_connections("alice").await.expect("q")),
        names(&["c2="])
    );
    assert_eq!(
        store.delete_connection("c1=").await.expect("again"),
        Removal::complete(0)
    );
    assert_eq!(
        store
            .delete_connection("never-existed=")
            .await
            .expect("unknown"),
        Removal::complete(0)
    );
}

/// The cap on subscriptions per connection, and the token expiry every record carries.
async fn capped_and_expiring(store: &dyn ConnectionStore) {
    let mut connection = record("capped=", "frank");
    connection.token_expires_at = Some(1_800_000_000);
    store.put_connection(&connection).await.expect("put");
    let subscription = |entity_id| Subscription {
        connection_id: "capped=",
        entity_id,
        expires_at: 1_900_000_000,
        token_expires_at: Some(1_800_000_000),
    };
    let subscribe = |entity_id| async move {
        store
            .subscribe(&subscription(entity_id), 2)
            .await
            .expect("subscribe")
    };
    assert_eq!(subscribe("a").await, Subscribed::Added);
    assert_eq!(subscribe("a").await, Subscribed::AlreadySubscribed);
    assert_eq!(subscribe("b").await, Subscribed::Added);
    assert_eq!(subscribe("c").await, Subscribed::LimitReached);
    // At the cap, one it holds is still no error; nothing was stored for the refused one.
    assert_eq!(subscribe("b").await, Subscribed::AlreadySubscribed);
    assert!(store.subscribers("c").await.expect("q").is_empty());
    store
        .delete_subscription("capped=", "a")
        .await
        .expect("unsubscribe");
    store
        .delete_subscription("capped=", "a")
        .await
        .expect("twice");
    assert_eq!(subscribe("c").await, Subscribed::Added);
    assert_eq!(subscribe("d").await, Subscribed::LimitReached);
    assert_eq!(
        set(store.subscriptions("capped=").await.expect("q")),
        names(&["b", "c"])
    );

    let expiring = vec![Recipient {
        connection_id: "capped=".into(),
        token_expires_at: Some(1_800_000_000),
    }];
    assert_eq!(store.subscribers("c").await.expect("q"), expiring);
    assert_eq!(store.user_connections("frank").await.expect("q"), expiring);
    assert_eq!(
        store
            .delete_connection("capped=")
            .await
            .expect("disconnect"),
        Removal::complete(3)
    );
}

/// Many subscribes of one connection at once never pass the cap.
async fn cap_under_concurrency(store: &dyn ConnectionStore) {
    store
        .put_connection(&record("racing=", "gina"))
        .await
        .expect("put");
    let results: Vec<Subscribed> = stream::iter(0..40)
        .map(|i| async move {
            let entity = format!("race-{i}");
            let subscription = Subscription {
                connection_id: "racing=",
                entity_id: &entity,
                expires_at: 1_900_000_000,
                token_expires_at: None,
            };
            store.subscribe(&subscription, 10).await.expect("subscribe")
        })
        .buffer_unordered(40)
        .collect()
        .await;
    let added = results.iter().filter(|r| **r == Subscribed::Added).count();
    assert_eq!(added, 10, "{results:?}");
    assert_eq!(store.subscriptions("racing=").await.expect("q").len(), 10);
    assert_eq!(
        store
            .delete_connection("racing=")
            .await
            .expect("disconnect"),
        Removal::complete(11)
    );
}

/// Enough items that every read needs several pages and every delete several batches.
async fn many(store: &dyn ConnectionStore, subscribers: usize) {
    store
        .put_connection(&record("big=", "carol"))
        .await
        .expect("put");
    let mut expected = BTreeSet::new();
    for i in 0..subscribers {
        let id = format!("sub-{i:04}=");
        store
            .put_subscription(&id, "popular", 1_900_000_000)
            .await
            .expect("subscribe");
        store
            .put_subscription("big=", &format!("entity-{i}"), 1_900_000_000)
            .await
            .expect("subscribe");
        expected.insert(id);
    }
    assert_eq!(
        ids(store.subscribers("popular").await.expect("all pages")),
        expected
    );
    let entities: BTreeSet<String> = (0..subscribers).map(|i| format!("entity-{i}")).collect();
    assert_eq!(
        set(store.subscriptions("big=").await.expect("all pages")),
        entities
    );
    // 1 connection item + `subscribers` subscriptions: several BatchWriteItem chunks of 25.
    assert_eq!(
        store.delete_connection("big=").await.expect("delete all"),
        Removal::complete(subscribers + 1)
    );
    assert!(store.subscribers("entity-0").await.expect("q").is_empty());
    assert!(store.user_connections("carol").await.expect("q").is_empty());
}

#[tokio::test]
async fn memory_store_honours_the_contract() {
    contract(&MemoryStore::new()).await;
    capped_and_expiring(&MemoryStore::new()).await;
    cap_under_concurrency(&MemoryStore::new()).await;
    many(&MemoryStore::new(), 130).await;
}

async fn dynamo_store(table: &str) -> DynamoStore {
    // Pages of 7 items: a query over 130 subscribers needs 19 pages.
    fresh_table(table).await.with_page_size(7)
}

#[tokio::test]
async fn dynamodb_store_honours_the_contract() {
    contract(&dynamo_store("contract").await).await;
    capped_and_expiring(&dynamo_store("capped").await).await;
    cap_under_concurrency(&dynamo_store("racing").await).await;
}

#[tokio::test]
async fn dynamodb_store_pages_through_every_result() {
    many(&dynamo_store("paging").await, 130).await;
}

#[tokio::test]
async fn dynamodb_faults_are_errors_naming_the_operation() {
    let store = DynamoStore::new(dynamodb_local(), "no-such-table", "GSI1");
    let err = store.subscribers("e").await.expect_err("missing table");
    assert!(err.to_string().contains("Query(GSI1)"), "{err}");
    let err = store
        .put_connection(&record("x=", "u"))
        .await
        .expect_err("missing table");
    assert!(err.to_string().contains("PutItem(connection)"), "{err}");
}

#[tokio::test]
async fn dynamodb_faults_reach_clients_as_errors_not_panics() {
    let broken = DynamoStore::new(dynamodb_local(), "no-such-table", "GSI1");
    let connections = FakeConnections::start().await;
    let rt = runtime(Arc::new(broken), &connections, false).await;

    let reply = rt
        .handle(fixture("websocket-subscribe.json"))
        .await
        .expect("route answers");
    let body: serde_json::Value =
        serde_json::from_str(reply["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["type"], "Error");
    assert!(
        body["message"].as_str().unwrap_or("").contains("retry"),
        "{body}"
    );

    let err = rt
        .handle(fixture("websocket-connect.json"))
        .await
        .expect_err("$connect fails");
    assert!(err.to_string().contains("PutItem(connection)"), "{err}");
    assert!(!err.is_permanent());
    let err = rt
        .handle(fixture("eventbridge-entity-updated.json"))
        .await
        .expect_err("no table");
    assert!(!err.is_permanent(), "a store fault is retried: {err}");
    assert_eq!(connections.total_delivered(), 0);
}

/// Records connection `id` of user `user` with `count` subscriptions, many writes at once.
async fn busy_connection(store: &dyn ConnectionStore, id: &str, user: &str, count: usize) {
    store.put_connection(&record(id, user)).await.expect("put");
    stream::iter(0..count)
        .map(|i| async move {
            let entity = format!("entity-{i}");
            store.put_subscription(id, &entity, 1_900_000_000).await
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
        .expect("subscribe");
}

#[tokio::test]
async fn dynamodb_store_removes_a_connection_with_30_000_subscriptions() {
    const SUBSCRIPTIONS: usize = 30_000;
    // A deadline no machine misses: this test is about completeness; how fast the removal is
    // it only prints (run with --nocapture to see it).
    let store = fresh_table("busy")
        .await
        .with_removal_deadline(Duration::from_secs(600));
    busy_connection(&store, "busy=", "dave", SUBSCRIPTIONS).await;

    let started = Instant::now();
    let removal = store.delete_connection("busy=").await.expect("removed");
    println!(
        "removed {} records of one connection in {:?}",
        removal.deleted,
        started.elapsed()
    );

    assert_eq!(removal, Removal::complete(SUBSCRIPTIONS + 1));
    assert!(store.subscriptions("busy=").await.expect("q").is_empty());
    assert!(store.user_connections("dave").await.expect("q").is_empty());
    for entity in ["entity-0", "entity-29999"] {
        assert!(store.subscribers(entity).await.expect("q").is_empty());
    }
}

#[tokio::test]
async fn dynamodb_removal_cut_by_its_deadline_is_counted_and_can_be_finished() {
    const RECORDS: usize = 301;
    let store = dynamo_store("cut").await;
    busy_connection(&store, "cut=", "erin", RECORDS - 1).await;
    let hurried = store
        .clone()
        .with_removal_deadline(Duration::from_millis(1));

    let started = Instant::now();
    let first = hurried
        .delete_connection("cut=")
        .await
        .expect("a removal cut short is not an error");
    let took = started.elapsed();

    assert!(!first.is_complete(), "43 pages in 1 ms: {first:?}");
    assert!(first.deleted + first.left <= RECORDS, "{first:?}");
    assert!(
        took < Duration::from_secs(1),
        "it cancels what is in flight at its deadline, yet took {took:?}"
    );
    // What the first left (or deleted unconfirmed) goes with the next removal.
    let rest = store.delete_connection("cut=").await.expect("the rest");
    assert!(rest.is_complete(), "{rest:?}");
    assert!(first.deleted + rest.deleted <= RECORDS);
    assert!(store.subscriptions("cut=").await.expect("q").is_empty());
    assert!(store.user_connections("erin").await.expect("q").is_empty());
}
