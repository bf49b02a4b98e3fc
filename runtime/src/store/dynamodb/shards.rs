//! The entity index, spread over shards: subscriptions are written under `{entityId}#{shard}`
//! and read from every shard at once.
//!
//! Why: the index's partition key takes every subscription write of its entity, and DynamoDB
//! gives one partition key about 1,000 writes a second; a subscribe storm to one entity would
//! throttle. With `INDEX_SHARDS` keys per entity (the shard a stable hash of the connection id)
//! the writes spread over as many partitions, and a fan-out reads them in parallel.
//!
//! Keys never collide. An entity id may contain `#`, so the sharded key of entity `a`, `a#0`,
//! is the unsharded key of an entity named `a#0`; the index sort keys keep them apart:
//! sharded subscriptions begin `shard-subscription#`, unsharded ones `subscription#`, and
//! neither prefix begins the other. Among sharded keys the shard is the digits after the last
//! `#`, so one key names one entity and one shard.
//!
//! Migration: subscriptions written before the index was sharded sit under the entity id
//! alone. Every read queries that key too, so they stay reachable until their TTL removes
//! them (`RECORD_TTL_SECONDS`); a subscription written again (a client's next subscribe after
//! a reconnect) goes under its shard. Raising `INDEX_SHARDS` is safe (readers query every shard
//! up to the new count); lowering it hides the subscriptions of the shards dropped until they
//! expire.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::future::try_join_all;
use futures::stream::{self, StreamExt, TryStreamExt};
use wspush_contract::table::{
    INDEX_PARTITION_KEY, INDEX_SORT_KEY, SHARDED_SUBSCRIPTION_PREFIX, SUBSCRIPTION_PREFIX,
    TTL_ATTRIBUTE,
};

use super::subscribing::subscription_key;
use super::{index_sort_key, n, plain_error, request_error, s, DynamoStore, Item};
use crate::store::{Recipient, StoreError, Subscription};

/// Items per `BatchWriteItem`, DynamoDB's most.
const ITEMS_PER_WRITE: usize = 25;
/// Batch writes in flight at once when seeding.
const WRITES_IN_PARALLEL: usize = 8;
/// Rounds of retrying what a batch write left unprocessed.
const WRITE_ROUNDS: u32 = 8;

impl DynamoStore {
    /// A subscription's item, under its shard's index key.
    pub(super) fn subscription_item(&self, subscription: &Subscription<'_>) -> Item {
        let Subscription {
            connection_id,
            entity_id,
            expires_at,
            token_expires_at,
        } = *subscription;
        let mut item = subscription_key(connection_id, entity_id);
        let shard = shard_of(connection_id, self.index_shards);
        item.insert(
            INDEX_PARTITION_KEY.into(),
            s(&sharded_key(entity_id, shard)),
        );
        item.insert(
            INDEX_SORT_KEY.into(),
            index_sort_key(SHARDED_SUBSCRIPTION_PREFIX, token_expires_at),
        );
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        item
    }

    /// Every subscriber of `entity_id`: each shard's key and the unsharded key, all at once.
    pub(super) async fn read_all_shards(
        &self,
        entity_id: &str,
    ) -> Result<Vec<Recipient>, StoreError> {
        let keys: Vec<String> = (0..self.index_shards)
            .map(|shard| sharded_key(entity_id, shard))
            .collect();
        let sharded = keys
            .iter()
            .map(|key| self.query_index(key, SHARDED_SUBSCRIPTION_PREFIX));
        let (unsharded, sharded) = futures::join!(
            self.query_index(entity_id, SUBSCRIPTION_PREFIX),
            try_join_all(sharded)
        );
        let mut recipients = unsharded?;
        recipients.extend(sharded?.into_iter().flatten());
        Ok(recipients)
    }

    /// Writes one subscription of `entity_id` per connection id, 25 to a request, uncapped and
    /// without token expiry: seeding for tools and benches, not a route's subscribe.
    pub(super) async fn write_subscriptions(
        &self,
        entity_id: &str,
        connection_ids: &[String],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let writes = connection_ids
            .iter()
            .map(|connection_id| {
                let item = self.subscription_item(&Subscription {
                    connection_id,
                    entity_id,
                    expires_at,
                    token_expires_at: None,
                });
                let put = PutRequest::builder().set_item(Some(item)).build();
                put.map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| plain_error("BatchWriteItem(subscriptions)", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let requests: Vec<Vec<WriteRequest>> = writes
            .chunks(ITEMS_PER_WRITE)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        stream::iter(requests)
            .map(|writes| self.write_all(writes))
            .buffer_unordered(WRITES_IN_PARALLEL)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// One `BatchWriteItem`, its unprocessed items sent again with growing pauses.
    async fn write_all(&self, mut writes: Vec<WriteRequest>) -> Result<(), StoreError> {
        const OP: &str = "BatchWriteItem(subscriptions)";
        for round in 0..WRITE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(25 << round)).await;
            }
            let answer = self
                .client
                .batch_write_item()
                .request_items(&self.table, writes)
                .send()
                .await
                .map_err(|e| request_error(OP, &self.table, e))?;
            writes = answer
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.table))
                .unwrap_or_default();
            if writes.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Request {
            operation: OP,
            message: format!(
                "{} items were still unprocessed after {WRITE_ROUNDS} rounds",
                writes.len()
            ),
        })
    }
}

/// The shard of a connection's subscriptions: FNV-1a of its id, so every function computes
/// the same shard (std's hasher is seeded per process).
pub(super) fn shard_of(connection_id: &str, shards: u32) -> u32 {
    let hash = connection_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    (hash % u64::from(shards.max(1))) as u32
}

/// The index key of one shard of an entity's subscriptions.
pub(super) fn sharded_key(entity_id: &str, shard: u32) -> String {
    format!("{entity_id}#{shard}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(
            shard_of("L0SM9cOFvHcCIhw=", 4),
            shard_of("L0SM9cOFvHcCIhw=", 4)
        );
        let mut counts = [0usize; 4];
        for i in 0..4_000 {
            counts[shard_of(&format!("conn-{i}"), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn a_sharded_key_names_one_entity_and_one_shard() {
        assert_eq!(sharded_key("a", 0), "a#0");
        assert_eq!(sharded_key("a#0", 1), "a#0#1");
        assert_ne!(sharded_key("a#0", 1), sharded_key("a", 1));
        // The prefixes that tell sharded from unsharded index entries apart.
        assert!(!SHARDED_SUBSCRIPTION_PREFIX.starts_with(SUBSCRIPTION_PREFIX));
        assert!(!SUBSCRIPTION_PREFIX.starts_with(SHARDED_SUBSCRIPTION_PREFIX));
    }
}
