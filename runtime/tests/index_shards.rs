//! The sharded entity index on DynamoDB Local: subscriptions spread over `{entityId}#{shard}`
//! keys, read from every shard; records written before sharding (under the entity id alone)
//! stay readable; and no entity ever reads another's subscribers, whatever `#` its id holds.

mod support;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use support::{dynamodb_local, fresh_table};
use wspush_contract::table;
use wspush_runtime::store::{ConnectionStore, DynamoStore, Recipient};

fn ids(recipients: Vec<Recipient>) -> BTreeSet<String> {
    recipients.into_iter().map(|r| r.connection_id).collect()
}

fn names(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// A subscription as it was written before the index was sharded: the entity id alone as
/// the index key, `subscription#` as its sort key's prefix.
async fn put_unsharded(store_table: &str, connection_id: &str, entity_id: &str) {
    let s = |v: &str| AttributeValue::S(v.to_string());
    dynamodb_local()
        .put_item()
        .table_name(store_table)
        .item(table::PARTITION_KEY, s(connection_id))
        .item(
            table::SORT_KEY,
            s(&format!("{}{entity_id}", table::SUBSCRIPTION_PREFIX)),
        )
        .item(table::INDEX_PARTITION_KEY, s(entity_id))
        .item(table::INDEX_SORT_KEY, s(table::SUBSCRIPTION_PREFIX))
        .item(table::TTL_ATTRIBUTE, AttributeValue::N("4000000000".into()))
        .send()
        .await
        .expect("put an unsharded subscription");
}

/// A store on a table of its own, and the table's name.
async fn table_of(prefix: &str) -> (DynamoStore, String) {
    let store = fresh_table(prefix).await;
    let name = store.table_name().to_string();
    (store, name)
}

#[tokio::test]
async fn entities_whose_ids_look_like_shard_keys_never_share_subscribers() {
    let (store, name) = table_of("shard-collision").await;
    // Before sharding: `a#0` and `a` each had a subscriber under their plain ids.
    put_unsharded(&name, "old-of-a", "a").await;
    put_unsharded(&name, "old-of-a#0", "a#0").await;
    // After: new subscriptions go under shard keys, one of which is spelled `a#0`.
    for i in 0..20 {
        store
            .put_subscription(&format!("new-of-a-{i}"), "a", 4_000_000_000)
            .await
            .expect("subscribe");
    }
    store
        .put_subscription("new-of-a#0", "a#0", 4_000_000_000)
        .await
        .expect("subscribe");

    let of_a = ids(store.subscribers("a").await.expect("read"));
    let mut expected: BTreeSet<String> = (0..20).map(|i| format!("new-of-a-{i}")).collect();
    expected.insert("old-of-a".into());
    assert_eq!(
        of_a, expected,
        "entity a: its old and new subscribers, nobody else"
    );
    assert_eq!(
        ids(store.subscribers("a#0").await.expect("read")),
        names(&["old-of-a#0", "new-of-a#0"]),
        "entity a#0 reads none of a's shard 0"
    );
    assert!(store.subscribers("a#0#0").await.expect("read").is_empty());
}

#[tokio::test]
async fn subscriptions_spread_over_the_shards_and_every_shard_is_read() {
    let store = fresh_table("shard-spread").await.with_index_shards(8);
    let connection_ids: Vec<String> = (0..400).map(|i| format!("c{i}")).collect();
    store
        .put_subscriptions("hot", &connection_ids, 4_000_000_000)
        .await
        .expect("seed");
    let read = ids(store.subscribers("hot").await.expect("read"));
    assert_eq!(read.len(), 400);

    let table_name = store.table_name().to_string();
    let keys: BTreeSet<String> = dynamodb_local()
        .scan()
        .table_name(&table_name)
        .send()
        .await
        .expect("scan")
        .items()
        .iter()
        .filter_map(|item| item.get(table::INDEX_PARTITION_KEY)?.as_s().ok().cloned())
        .collect();
    let expected: BTreeSet<String> = (0..8).map(|shard| format!("hot#{shard}")).collect();
    assert_eq!(keys, expected, "400 connections use all 8 shards");

    store
        .delete_subscription("c7", "hot")
        .await
        .expect("unsubscribe");
    assert!(!ids(store.subscribers("hot").await.expect("read")).contains("c7"));
}

#[tokio::test]
async fn raising_the_shard_count_keeps_every_subscription_readable() {
    let (store, name) = table_of("shard-raise").await;
    let two = store.clone().with_index_shards(2);
    for i in 0..50 {
        two.put_subscription(&format!("c{i}"), "e", 4_000_000_000)
            .await
            .expect("subscribe");
    }
    put_unsharded(&name, "legacy", "e").await;
    let sixteen = store.with_index_shards(16);
    let read = ids(sixteen.subscribers("e").await.expect("read"));
    assert_eq!(
        read.len(),
        51,
        "50 under 2 shards and 1 unsharded, read with 16"
    );
}
