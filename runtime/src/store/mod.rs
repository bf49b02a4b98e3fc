//! The store seam: connections, subscriptions and the user index.
//!
//! Handlers see only [`ConnectionStore`], named after what they need, never DynamoDB's API.
//! Two implementations honour one contract (the shared suite in `tests/store_contract.rs`):
//! [`DynamoStore`] on the quick start's single-table layout, and [`MemoryStore`], embedded in the
//! local gateway and used by unit tests.

mod dynamodb;
mod memory;

pub use self::dynamodb::DynamoStore;
pub use self::memory::MemoryStore;

use async_trait::async_trait;

/// A connection as recorded on `$connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub user_id: String,
    /// Milliseconds since the epoch, as API Gateway reports `connectedAt`.
    pub connected_at_ms: i64,
    pub ip_address: Option<String>,
    /// Unix seconds after which the record may be removed by TTL.
    pub expires_at: i64,
}

/// A failure of the backing store. Messages name the operation so logs can be acted on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store request {operation} failed: {message}")]
    Request {
        operation: &'static str,
        message: String,
    },
    /// The table does not exist (DynamoDB's `ResourceNotFoundException`): never created, or
    /// gone with a restarted DynamoDB Local.
    #[error("store request {operation} failed: table {table} does not exist")]
    TableMissing {
        operation: &'static str,
        table: String,
    },
    #[error("store returned an item without {field} during {operation}")]
    Corrupt {
        operation: &'static str,
        field: &'static str,
    },
    #[error("{operation} left {count} items unprocessed after {attempts} attempts")]
    Unprocessed {
        operation: &'static str,
        count: usize,
        attempts: u32,
    },
}

/// How many records a store holds: for the local gateway's leak checks, not for handlers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Census {
    pub connections: usize,
    pub subscriptions: usize,
}

/// What the handlers need from storage.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a connection and its entry in the user index.
    async fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError>;

    /// Records that `connection_id` wants updates of `entity_id`. Repeating it is harmless.
    async fn put_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// Removes one subscription; removing an absent one is not an error.
    async fn delete_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError>;

    /// Removes the connection and every subscription it holds; returns how many items went.
    async fn delete_connection(&self, connection_id: &str) -> Result<usize, StoreError>;

    /// Every connection subscribed to `entity_id`, across all result pages.
    async fn subscribers(&self, entity_id: &str) -> Result<Vec<String>, StoreError>;

    /// Every connection of `user_id`, across all result pages.
    async fn user_connections(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// Every entity id `connection_id` is subscribed to, across all result pages. Handlers do
    /// not need it; the local gateway shows it (`GET /_gateway/connections`, the console).
    async fn subscriptions(&self, connection_id: &str) -> Result<Vec<String>, StoreError>;

    /// Record counts, where the store can give them cheaply (the embedded store); `None`
    /// elsewhere: counting a DynamoDB table is a full scan no handler should ever make.
    fn census(&self) -> Option<Census> {
        None
    }
}
