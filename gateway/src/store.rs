//! Which store the runtime gets: the embedded one (default) or DynamoDB at an endpoint.
//!
//! Both honour the runtime's `ConnectionStore` contract (the suite in
//! `runtime/tests/store_contract.rs` runs against each). For DynamoDB, typically DynamoDB Local, the
//! table and its GSI are created when missing, in the deployed layout, so
//! `--dynamodb-endpoint http://127.0.0.1:8000` works against a fresh, empty instance — and
//! against one that comes back empty after a restart: a request that finds the table missing
//! re-creates it ([`SelfHealing`]) and is tried once more, so the gateway carries on.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use wspush_runtime::aws;
use wspush_runtime::store::{
    Appended, ConnectionRecord, ConnectionStore, DynamoStore, MemoryStore, NewMessage, Recipient,
    Removal, Retention, StoreError, StoredMessage, Stream, StreamHead, Subscribed, Subscription,
};

/// Where connections and subscriptions are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    Embedded,
    DynamoDb {
        endpoint: String,
        table: String,
        index: String,
        /// Index keys each entity's subscriptions are spread over.
        index_shards: u32,
    },
}

impl StoreChoice {
    /// A short description for the start banner.
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Embedded => "embedded (in memory)".into(),
            StoreChoice::DynamoDb {
                endpoint, table, ..
            } => format!("DynamoDB at {endpoint}, table {table}"),
        }
    }
}

/// A store that could not be made ready.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB at {endpoint}: {message}")]
pub struct StoreSetupError {
    pub endpoint: String,
    pub message: String,
}

/// Builds the chosen store, creating the DynamoDB table when it is missing.
pub async fn build(
    choice: &StoreChoice,
    region: &str,
) -> Result<Arc<dyn ConnectionStore>, StoreSetupError> {
    match choice {
        StoreChoice::Embedded => Ok(Arc::new(MemoryStore::new())),
        StoreChoice::DynamoDb {
            endpoint,
            table,
            index,
            index_shards,
        } => {
            let client = aws::dynamodb_client(&aws::local_sdk_config(region), endpoint);
            let store = DynamoStore::new(client, table, index).with_index_shards(*index_shards);
            store.ensure_table().await.map_err(|e| StoreSetupError {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
            Ok(Arc::new(SelfHealing::new(store)))
        }
    }
}

/// DynamoDB Local's table, re-created when a request finds it missing (DynamoDB Local in
/// memory loses it on restart). Local only: in AWS the infrastructure owns the table, and a
/// missing table is an error to report, not to paper over.
pub struct SelfHealing {
    store: DynamoStore,
    /// One re-creation at a time; the others wait and then retry.
    creating: Mutex<()>,
}

impl SelfHealing {
    pub fn new(store: DynamoStore) -> Self {
        Self {
            store,
            creating: Mutex::new(()),
        }
    }

    /// Runs `op`; when the table is missing, re-creates it and runs `op` once more.
    async fn heal<'a, T, F, Fut>(&'a self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + 'a,
    {
        match op().await {
            Err(StoreError::TableMissing { operation, table }) => {
                tracing::warn!(%table, operation, "table missing (DynamoDB restarted?); re-creating it");
                {
                    let _one_at_a_time = self.creating.lock().await;
                    self.store.ensure_table().await?;
                }
                op().await
            }
            other => other,
        }
    }
}

#[async_trait]
impl ConnectionStore for SelfHealing {
    async fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.heal(|| self.store.put_connection(record)).await
    }

    async fn subscribe(
        &self,
        subscription: &Subscription<'_>,
        max_per_connection: usize,
    ) -> Result<Subscribed, StoreError> {
        self.heal(|| self.store.subscribe(subscription, max_per_connection))
            .await
    }

    async fn put_subscriptions(
        &self,
        entity_id: &str,
        connection_ids: &[String],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.heal(|| {
            self.store
                .put_subscriptions(entity_id, connection_ids, expires_at)
        })
        .await
    }

    async fn delete_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError> {
        self.heal(|| self.store.delete_subscription(connection_id, entity_id))
            .await
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<Removal, StoreError> {
        self.heal(|| self.store.delete_connection(connection_id))
            .await
    }

    async fn subscribers(&self, entity_id: &str) -> Result<Vec<Recipient>, StoreError> {
        self.heal(|| self.store.subscribers(entity_id)).await
    }

    async fn user_connections(&self, user_id: &str) -> Result<Vec<Recipient>, StoreError> {
        self.heal(|| self.store.user_connections(user_id)).await
    }

    async fn subscriptions(&self, connection_id: &str) -> Result<Vec<String>, StoreError> {
        self.heal(|| self.store.subscriptions(connection_id)).await
    }

    async fn append(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError> {
        self.heal(|| self.store.append(stream, message, retention, now))
            .await
    }

    async fn stream_head(
        &self,
        stream: Stream<'_>,
        now: i64,
    ) -> Result<Option<StreamHead>, StoreError> {
        self.heal(|| self.store.stream_head(stream, now)).await
    }

    async fn stream_messages(
        &self,
        stream: Stream<'_>,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.heal(|| {
            self.store
                .stream_messages(stream, stream_id, serials.clone(), limit)
        })
        .await
    }
}
