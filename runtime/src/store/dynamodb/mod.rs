//! [`ConnectionStore`] on DynamoDB, in the quick start's single-table layout.
//!
//! Attribute names and key values come from `wspush_contract::table`, which `infra/` declares
//! the table from.
//!
//! | item         | pk           | sk                        | GSI1PK   | GSI1SK               |
//! |--------------|--------------|---------------------------|----------|----------------------|
//! | connection   | connectionId | `connection#`             | userId   | `user#{exp}`         |
//! | subscription | connectionId | `subscription#{entityId}` | `{entityId}#{shard}` | `shard-subscription#{exp}` |
//!
//! `{exp}` is the connection's token expiry (empty when unknown): the index projects keys only,
//! and a fan-out reads it from there. Each entity's subscriptions are spread over
//! `INDEX_SHARDS` index keys, so a hot entity uses as many partitions ([`shards`]). The connection item also counts the connection's
//! subscriptions ([`subscribing`]). Every query follows `LastEvaluatedKey` to the end (a page
//! holds at most 1 MB). Removing a connection has a deadline of its own: [`removal`]. Streams
//! keep their heads, messages and event markers under keys of their own ([`streams`]).

mod removal;
mod shards;
mod streams;
mod subscribing;

use std::collections::HashMap;
use std::time::Duration;

use wspush_contract::table::{
    CONNECTED_AT, CONNECTION_SORT_KEY, INDEX_PARTITION_KEY, INDEX_SORT_KEY, IP_ADDRESS,
    PARTITION_KEY, SORT_KEY, SUBSCRIPTION_PREFIX, TTL_ATTRIBUTE, USER_INDEX_SORT_KEY,
};
use wspush_contract::timeouts;

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::{
    Appended, ConnectionRecord, ConnectionStore, NewMessage, Recipient, Removal, Retention,
    StoreError, StoredMessage, Stream, StreamHead, Subscribed, Subscription,
};

/// Longest wait for a table DynamoDB Local has just created to become ACTIVE.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(10);

type Item = HashMap<String, AttributeValue>;

/// DynamoDB-backed store. Cloning shares the SDK client.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    index: String,
    /// Page size for queries; `None` lets DynamoDB fill 1 MB pages. Tests set it small to
    /// exercise pagination without writing megabytes.
    page_size: Option<i32>,
    /// How long removing one connection may take; tests shorten it.
    removal_deadline: Duration,
    /// Index keys each entity's subscriptions are spread over (`INDEX_SHARDS`).
    index_shards: u32,
}

/// A failed request; a missing table is its own kind, so a caller can re-create it.
fn request_error<E>(operation: &'static str, table: &str, err: E) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    if err.code() == Some("ResourceNotFoundException") {
        return StoreError::TableMissing {
            operation,
            table: table.to_string(),
        };
    }
    plain_error(operation, err)
}

/// A failure that carries no service error code (request building, waiting).
fn plain_error<E>(operation: &'static str, err: E) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError::Request {
        operation,
        message: DisplayErrorContext(err).to_string(),
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// An index sort key: `prefix` and the token expiry, when known.
fn index_sort_key(prefix: &str, token_expires_at: Option<i64>) -> AttributeValue {
    match token_expires_at {
        Some(exp) => s(&format!("{prefix}{exp}")),
        None => s(prefix),
    }
}

fn key(connection_id: &str, sk: String) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_string(), s(connection_id)),
        (SORT_KEY.to_string(), s(&sk)),
    ])
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, index: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            index: index.into(),
            page_size: None,
            removal_deadline: Duration::from_millis(timeouts::CONNECTION_REMOVAL_MS),
            index_shards: wspush_contract::defaults::INDEX_SHARDS,
        }
    }

    /// The table the store reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Spreads each entity's subscriptions over `shards` index keys (at least one).
    pub fn with_index_shards(mut self, shards: u32) -> Self {
        self.index_shards = shards.max(1);
        self
    }

    /// Creates the table in the contract's layout unless it exists (pk/sk, the GSI on
    /// `GSI1PK`/`GSI1SK`, TTL on `ttl`), and waits until it is active: for DynamoDB Local and
    /// tests. In AWS the infrastructure program owns the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let exists = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(request_error("DescribeTable", &self.table, e)),
        };
        if !exists {
            self.create_table().await?;
        }
        self.wait_until_active().await?;
        if !exists {
            let ttl = TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(|e| plain_error("UpdateTimeToLive", e))?;
            if let Err(e) = self
                .client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(ttl)
                .send()
                .await
            {
                // TTL only removes stale records; everything else works without it.
                tracing::warn!(table = %self.table, error = %DisplayErrorContext(e), "could not enable TTL");
            }
        }
        Ok(())
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        const OP: &str = "CreateTable";
        let build = |e: aws_sdk_dynamodb::error::BuildError| plain_error(OP, e);
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(&self.index)
            .key_schema(key(INDEX_PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(INDEX_SORT_KEY, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(build)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(PARTITION_KEY)?)
            .attribute_definitions(attribute(SORT_KEY)?)
            .attribute_definitions(attribute(INDEX_PARTITION_KEY)?)
            .attribute_definitions(attribute(INDEX_SORT_KEY)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => {
                tracing::info!(table = %self.table, "created DynamoDB table");
                Ok(())
            }
            // Someone else (another gateway, a parallel test) created it meanwhile.
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(request_error(OP, &self.table, e)),
        }
    }

    /// The SDK's `TableExists` waiter (status ACTIVE). Its first check is immediate, and DynamoDB
    /// Local creates tables ACTIVE, so this costs one DescribeTable there.
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(TABLE_ACTIVE_WAIT)
            .await
            .map_err(|e| plain_error("DescribeTable (waiting for ACTIVE)", e))?;
        Ok(())
    }

    /// Limits every query page to `items` items.
    pub fn with_page_size(mut self, items: i32) -> Self {
        self.page_size = Some(items);
        self
    }

    /// Gives removing one connection `deadline` instead of
    /// [`timeouts::CONNECTION_REMOVAL_MS`]; what is not deleted by then is reported as left.
    pub fn with_removal_deadline(mut self, deadline: Duration) -> Self {
        self.removal_deadline = deadline;
        self
    }

    /// Runs `query` with the SDK's paginator, page after page until DynamoDB reports no
    /// `LastEvaluatedKey` (a page holds at most 1 MB).
    async fn query_all(
        &self,
        operation: &'static str,
        query: QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        query
            .set_limit(self.page_size)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| request_error(operation, &self.table, e))
    }

    /// Queries GSI1 for `GSI1PK = partition AND begins_with(GSI1SK, prefix)`, all pages: the
    /// connections found, with the token expiry their index sort key carries.
    async fn query_index(
        &self,
        partition: &str,
        prefix: &str,
    ) -> Result<Vec<Recipient>, StoreError> {
        const OP: &str = "Query(GSI1)";
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(&self.index)
            .key_condition_expression(format!(
                "{INDEX_PARTITION_KEY} = :p AND begins_with({INDEX_SORT_KEY}, :s)"
            ))
            .expression_attribute_values(":p", s(partition))
            .expression_attribute_values(":s", s(prefix))
            .projection_expression(format!("{PARTITION_KEY}, {INDEX_SORT_KEY}"));
        self.query_all(OP, query)
            .await?
            .into_iter()
            .map(|item| recipient_of(item, prefix))
            .collect()
    }

    /// Every entity id subscribed by one connection: the `subscription#{entityId}` sort keys
    /// under its partition, all pages, prefix stripped.
    async fn subscribed_entities(&self, connection_id: &str) -> Result<Vec<String>, StoreError> {
        const OP: &str = "Query(subscriptions)";
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!(
                "{PARTITION_KEY} = :p AND begins_with({SORT_KEY}, :prefix)"
            ))
            .expression_attribute_values(":p", s(connection_id))
            .expression_attribute_values(":prefix", s(SUBSCRIPTION_PREFIX))
            .projection_expression(SORT_KEY)
            .consistent_read(true);
        let corrupt = || StoreError::Corrupt {
            operation: OP,
            field: SORT_KEY,
        };
        self.query_all(OP, query)
            .await?
            .into_iter()
            .map(|mut item| match item.remove(SORT_KEY) {
                Some(AttributeValue::S(sk)) => sk
                    .strip_prefix(SUBSCRIPTION_PREFIX)
                    .map(str::to_string)
                    .ok_or_else(corrupt),
                _ => Err(corrupt()),
            })
            .collect()
    }

    async fn put(&self, operation: &'static str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| request_error(operation, &self.table, e))?;
        Ok(())
    }
}

/// A connection found in the index: its `pk`, and the expiry after `prefix` in its `GSI1SK`.
fn recipient_of(mut item: Item, prefix: &str) -> Result<Recipient, StoreError> {
    const OP: &str = "Query(GSI1)";
    let corrupt = |field| StoreError::Corrupt {
        operation: OP,
        field,
    };
    let Some(AttributeValue::S(connection_id)) = item.remove(PARTITION_KEY) else {
        return Err(corrupt(PARTITION_KEY));
    };
    let expiry = match item.remove(INDEX_SORT_KEY) {
        Some(AttributeValue::S(sort)) => sort.strip_prefix(prefix).map(str::to_string),
        _ => None,
    }
    .ok_or(corrupt(INDEX_SORT_KEY))?;
    let token_expires_at = match expiry.as_str() {
        "" => None,
        digits => Some(digits.parse().map_err(|_| corrupt(INDEX_SORT_KEY))?),
    };
    Ok(Recipient {
        connection_id,
        token_expires_at,
    })
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        let mut item = key(&record.connection_id, CONNECTION_SORT_KEY.to_string());
        item.insert(INDEX_PARTITION_KEY.into(), s(&record.user_id));
        item.insert(
            INDEX_SORT_KEY.into(),
            index_sort_key(USER_INDEX_SORT_KEY, record.token_expires_at),
        );
        item.insert(CONNECTED_AT.into(), n(record.connected_at_ms));
        item.insert(TTL_ATTRIBUTE.into(), n(record.expires_at));
        if let Some(ip) = &record.ip_address {
            item.insert(IP_ADDRESS.into(), s(ip));
        }
        self.put("PutItem(connection)", item).await
    }

    async fn subscribe(
        &self,
        subscription: &Subscription<'_>,
        max_per_connection: usize,
    ) -> Result<Subscribed, StoreError> {
        self.add_subscription(subscription, max_per_connection)
            .await
    }

    async fn delete_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError> {
        self.remove_subscription(connection_id, entity_id).await
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<Removal, StoreError> {
        self.remove_connection(connection_id).await
    }

    async fn subscribers(&self, entity_id: &str) -> Result<Vec<Recipient>, StoreError> {
        self.read_all_shards(entity_id).await
    }

    async fn put_subscriptions(
        &self,
        entity_id: &str,
        connection_ids: &[String],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write_subscriptions(entity_id, connection_ids, expires_at)
            .await
    }

    async fn user_connections(&self, user_id: &str) -> Result<Vec<Recipient>, StoreError> {
        self.query_index(user_id, USER_INDEX_SORT_KEY).await
    }

    async fn subscriptions(&self, connection_id: &str) -> Result<Vec<String>, StoreError> {
        self.subscribed_entities(connection_id).await
    }

    async fn append(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError> {
        self.append_message(stream, message, retention, now).await
    }

    async fn stream_head(
        &self,
        stream: Stream<'_>,
        now: i64,
    ) -> Result<Option<StreamHead>, StoreError> {
        self.read_head(stream, now).await
    }

    async fn stream_messages(
        &self,
        stream: Stream<'_>,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.read_messages(stream, stream_id, serials, limit).await
    }
}
