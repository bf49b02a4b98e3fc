//! Removing one connection's records under a deadline: `$disconnect`, and the fan-out's
//! cleanup of a connection `@connections` called gone.
//!
//! A connection holds one item plus one per subscription, all under its partition key. They are
//! read page by page with the SDK's paginator, and each page is deleted as it arrives, in
//! `BatchWriteItem` calls of 25 with [`PARALLEL_BATCHES`] in flight; what a call leaves
//! unprocessed, or all of it when DynamoDB refuses the call for throughput, is sent again after
//! a jittered, growing wait. All of it stops at the store's removal deadline
//! ([`timeouts::CONNECTION_REMOVAL_MS`] unless a test sets another), calls in flight included,
//! so a connection with tens of thousands of subscriptions cannot run the routes function into
//! its own timeout. What is left expires by TTL, and the [`Removal`] says how much that was.
//!
//! [`timeouts::CONNECTION_REMOVAL_MS`]: wspush_contract::timeouts::CONNECTION_REMOVAL_MS

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use futures::{stream, TryStreamExt};
use rand::Rng;
use tokio::time::Instant;
use wspush_contract::table::{PARTITION_KEY, SORT_KEY};

use super::{plain_error, request_error, s, DynamoStore, Item};
use crate::store::{Removal, StoreError};

/// DynamoDB's limit of requests in one BatchWriteItem call.
const BATCH_LIMIT: usize = 25;

/// `BatchWriteItem` calls in flight for one connection: enough to keep DynamoDB busy while
/// each call waits out its round trip, few enough not to ask one partition for many times what
/// it takes. On AWS every record of a connection shares one partition key, and a partition takes
/// about 1,000 writes a second: 4 calls of 25 keep that rate while a call takes up to 100 ms
/// (DynamoDB answers in tens of ms), and what the partition refuses beyond it is sent again, so
/// more calls would mostly add retries. DynamoDB Local queues writes inside itself (it used
/// under one of two cores throughout): 30,000 records took it 13 s one call at a time, 10 s
/// with 4 in flight and 9 s with 16.
const PARALLEL_BATCHES: usize = 4;

/// The first wait before resending unprocessed items; it doubles with each try.
const RETRY_BASE: Duration = Duration::from_millis(25);
/// The longest wait before resending unprocessed items.
const RETRY_CAP: Duration = Duration::from_secs(1);

const QUERY: &str = "Query(pk)";
const BATCH_WRITE: &str = "BatchWriteItem";

/// How far one removal got. Atomics only so the batches can share it by reference: every
/// batch runs in the removal's own task.
#[derive(Default)]
struct Progress {
    found: AtomicUsize,
    deleted: AtomicUsize,
    read_all: AtomicBool,
}

impl Progress {
    /// Counts one page of keys; the last page carries no `LastEvaluatedKey`.
    fn read(&self, page: &QueryOutput) {
        self.found.fetch_add(page.items().len(), Ordering::Relaxed);
        if page.last_evaluated_key.is_none() {
            self.read_all.store(true, Ordering::Relaxed);
        }
    }

    fn deleted(&self, count: usize) {
        self.deleted.fetch_add(count, Ordering::Relaxed);
    }

    fn removal(&self) -> Removal {
        let deleted = self.deleted.load(Ordering::Relaxed);
        Removal {
            deleted,
            left: self.found.load(Ordering::Relaxed).saturating_sub(deleted),
            read_all: self.read_all.load(Ordering::Relaxed),
        }
    }
}

impl DynamoStore {
    /// Deletes every record of `connection_id` that can go before the removal deadline.
    pub(super) async fn remove_connection(
        &self,
        connection_id: &str,
    ) -> Result<Removal, StoreError> {
        let deadline = Instant::now() + self.removal_deadline;
        let progress = Progress::default();
        let removal = self.delete_pages(connection_id, &progress);
        if let Ok(Err(e)) = tokio::time::timeout_at(deadline, removal).await {
            // The error goes to the caller; how far the removal got is known only here.
            let Removal {
                deleted,
                left,
                read_all,
            } = progress.removal();
            tracing::warn!(
                %connection_id, deleted, left, read_all, error = %e,
                "removal failed part-way; records left to TTL"
            );
            return Err(e);
        }
        Ok(progress.removal())
    }

    /// Reads the connection's keys page by page and deletes each page's keys in batches, up to
    /// [`PARALLEL_BATCHES`] at once; the next page is read while batches are in flight.
    async fn delete_pages(
        &self,
        connection_id: &str,
        progress: &Progress,
    ) -> Result<(), StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("{PARTITION_KEY} = :p"))
            .expression_attribute_values(":p", s(connection_id))
            .projection_expression(format!("{PARTITION_KEY}, {SORT_KEY}"))
            .consistent_read(true)
            .set_limit(self.page_size)
            .into_paginator()
            .send();
        stream::poll_fn(move |cx| pages.poll_next(cx))
            .map_err(|e| request_error(QUERY, &self.table, e))
            .map_ok(|page| {
                progress.read(&page);
                stream::iter(batches(page.items.unwrap_or_default()).map(Ok))
            })
            .try_flatten()
            .map_ok(|keys| self.delete_batch(keys, progress))
            .try_buffer_unordered(PARALLEL_BATCHES)
            .try_collect()
            .await
    }

    /// Deletes up to 25 `keys` in one `BatchWriteItem`, sending again what DynamoDB did not
    /// process until all are gone; the removal deadline ends the retries.
    async fn delete_batch(&self, keys: Vec<Item>, progress: &Progress) -> Result<(), StoreError> {
        let mut pending = keys
            .into_iter()
            .map(delete_request)
            .collect::<Result<Vec<_>, _>>()?;
        let mut retries = 0;
        loop {
            let sent = pending.len();
            pending = self.write_batch(pending).await?;
            progress.deleted(sent.saturating_sub(pending.len()));
            if pending.is_empty() {
                return Ok(());
            }
            retries += 1;
            tokio::time::sleep(retry_wait(retries)).await;
        }
    }

    /// Sends one `BatchWriteItem` and returns the requests DynamoDB did not process: those it
    /// reports unprocessed, or all of them when it refused the whole call for capacity after
    /// the SDK's own retries. Either is throttling, not a fault: one partition (one
    /// connection) takes about 1,000 writes a second.
    async fn write_batch(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Result<Vec<WriteRequest>, StoreError> {
        let sent = self
            .client
            .batch_write_item()
            .request_items(&self.table, requests.clone())
            .send()
            .await;
        match sent {
            Ok(out) => Ok(out
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&self.table))
                .unwrap_or_default()),
            Err(e) if refused_for_capacity(&e) => Ok(requests),
            Err(e) => Err(request_error(BATCH_WRITE, &self.table, e)),
        }
    }
}

/// Whether DynamoDB turned a call away for throughput rather than for what it asked.
fn refused_for_capacity(err: &impl ProvideErrorMetadata) -> bool {
    matches!(
        err.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
        )
    )
}

/// `items` in groups of at most [`BATCH_LIMIT`].
fn batches(items: Vec<Item>) -> impl Iterator<Item = Vec<Item>> {
    let mut items = items.into_iter();
    std::iter::from_fn(move || {
        let batch: Vec<Item> = items.by_ref().take(BATCH_LIMIT).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

fn delete_request(key: Item) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(|e| plain_error(BATCH_WRITE, e))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// "Full jitter": a random wait up to `RETRY_BASE * 2^retries`, capped at [`RETRY_CAP`], so
/// batches throttled together do not come back together.
fn retry_wait(retries: u32) -> Duration {
    let ceiling = RETRY_BASE
        .saturating_mul(1 << retries.min(16))
        .min(RETRY_CAP);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}
