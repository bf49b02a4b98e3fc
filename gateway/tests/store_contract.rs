//! One contract, two stores: the embedded store the gateway uses by default, and DynamoDB
//! (DynamoDB Local when `DYNAMODB_ENDPOINT` is set, with the table the gateway creates).
//!
//! The gateway's promise is that switching `--dynamodb-endpoint` on changes nothing a client
//! can see; this suite is what holds both stores to it.

use std::collections::BTreeSet;

use wspush_runtime::store::{ConnectionRecord, ConnectionStore, DynamoStore, MemoryStore};

fn record(id: &str, user: &str) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.to_string(),
        user_id: user.to_string(),
        connected_at_ms: 1_700_000_000_000,
        ip_address: Some("127.0.0.1".into()),
        expires_at: expires(),
    }
}

/// An hour from now: a past expiry would let DynamoDB Local's TTL sweeper delete items
/// mid-test.
fn expires() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

fn names(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The whole contract; `tag` keeps keys apart when stores share a table.
async fn contract(store: &dyn ConnectionStore, tag: &str) {
    let id = |n: &str| format!("{tag}-{n}");
    let user = format!("{tag}-user");
    let entity = format!("{tag}-entity");

    // Connections and the user index.
    store
        .put_connection(&record(&id("c1"), &user))
        .await
        .expect("put c1");
    store
        .put_connection(&record(&id("c2"), &user))
        .await
        .expect("put c2");
    assert_eq!(
        set(store.user_connections(&user).await.expect("query")),
        names(&[&id("c1"), &id("c2")])
    );
    assert!(store
        .user_connections("nobody")
        .await
        .expect("query")
        .is_empty());

    // Subscriptions, repeated puts harmless.
    for _ in 0..2 {
        store
            .put_subscription(&id("c1"), &entity, expires())
            .await
            .expect("subscribe");
    }
    store
        .put_subscription(&id("c2"), &entity, expires())
        .await
        .expect("subscribe");
    store
        .put_subscription(&id("c1"), &format!("{entity}-other"), expires())
        .await
        .expect("subscribe");
    assert_eq!(
        set(store.subscribers(&entity).await.expect("query")),
        names(&[&id("c1"), &id("c2")])
    );

    // Unsubscribe, idempotent.
    for _ in 0..2 {
        store
            .delete_subscription(&id("c2"), &entity)
            .await
            .expect("unsubscribe");
    }
    assert_eq!(
        set(store.subscribers(&entity).await.expect("query")),
        names(&[&id("c1")])
    );

    // Disconnect removes the connection and every subscription it holds.
    let removed = store.delete_connection(&id("c1")).await.expect("delete");
    assert_eq!(removed, 3, "connection + two subscriptions");
    assert!(store.subscribers(&entity).await.expect("query").is_empty());
    assert!(store
        .subscribers(&format!("{entity}-other"))
        .await
        .expect("query")
        .is_empty());
    assert_eq!(
        set(store.user_connections(&user).await.expect("query")),
        names(&[&id("c2")])
    );
    assert_eq!(store.delete_connection(&id("c1")).await.expect("again"), 0);

    // Many subscribers: every page is read.
    let crowd = format!("{tag}-crowd");
    let many: Vec<String> = (0..120).map(|n| id(&format!("m{n}"))).collect();
    for connection in &many {
        store
            .put_subscription(connection, &crowd, expires())
            .await
            .expect("subscribe");
    }
    assert_eq!(
        set(store.subscribers(&crowd).await.expect("query")),
        many.iter().cloned().collect()
    );
    for connection in &many {
        store.delete_connection(connection).await.expect("delete");
    }
    assert!(store.subscribers(&crowd).await.expect("query").is_empty());
    store.delete_connection(&id("c2")).await.expect("delete");
    assert!(store
        .user_connections(&user)
        .await
        .expect("query")
        .is_empty());
}

#[tokio::test]
async fn embedded_store_honours_the_contract() {
    contract(&MemoryStore::new(), "mem").await;
}

#[tokio::test]
async fn dynamodb_store_honours_the_contract() {
    let Some(endpoint) = std::env::var("DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        eprintln!("DYNAMODB_ENDPOINT is not set: the DynamoDB half runs in scripts/e2e.sh");
        return;
    };
    let client = wspush_gateway::store::dynamodb_client(&endpoint, "us-east-1");
    let table = format!("contract-{}", uuid::Uuid::new_v4().simple());
    wspush_gateway::store::ensure_table(&client, &table, "GSI1")
        .await
        .expect("table created");
    // Small pages, so pagination is exercised without writing megabytes.
    let store = DynamoStore::new(client.clone(), &table, "GSI1").with_page_size(25);
    contract(&store, "ddb").await;
    let _ = client.delete_table().table_name(&table).send().await;
}
