//! The store seam: connections, subscriptions and the user index.
//!
//! Handlers see only [`ConnectionStore`], named after what they need, never DynamoDB's API.
//! Two implementations honour one contract (the shared suite in `tests/store_contract.rs`):
//! [`DynamoStore`] on the quick start's single-table layout, and [`MemoryStore`], embedded in the
//! local gateway and used by unit tests.
//!
//! Subscriptions per connection are capped atomically: a subscription beyond the cap is not
//! stored, however many of one connection's subscribes run at once. Every record keeps the
//! connection's token expiry, and the recipients of a fan-out come back with it, so an expired
//! connection is found without reading its record.
//!
//! Each entity and each user also has a stream: its messages numbered and kept for a while, so
//! a client that reconnects replays what it missed ([`streams`]).
//!
//! Removing a connection is bounded in time: what cannot go before its deadline is left to the
//! records' TTL and counted in the [`Removal`], so `$disconnect` ends inside its function's
//! timeout however many subscriptions the connection holds.

mod dynamodb;
mod memory;
pub mod streams;

pub use self::dynamodb::DynamoStore;
pub use self::memory::MemoryStore;
pub use self::streams::{Appended, NewMessage, Retention, StoredMessage, Stream, StreamHead};

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
    /// The connection's token `exp` (unix seconds), when known: the connection ends with it.
    pub token_expires_at: Option<i64>,
}

/// A subscription to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription<'a> {
    pub connection_id: &'a str,
    pub entity_id: &'a str,
    /// Unix seconds after which the record may be removed by TTL.
    pub expires_at: i64,
    /// The connection's token `exp`, when known.
    pub token_expires_at: Option<i64>,
}

/// What [`ConnectionStore::subscribe`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscribed {
    Added,
    /// The connection held the subscription already; nothing changed.
    AlreadySubscribed,
    /// The connection holds the most subscriptions allowed; nothing was stored.
    LimitReached,
}

/// A connection a fan-out reaches, with its token's expiry when known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Recipient {
    pub connection_id: String,
    pub token_expires_at: Option<i64>,
}

impl Recipient {
    /// Whether the connection's token expired before `now`, `leeway_secs` tolerated.
    pub fn token_expired(&self, now: i64, leeway_secs: u64) -> bool {
        crate::auth::claims::token_expired(self.token_expires_at, now, leeway_secs)
    }
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
}

/// What [`ConnectionStore::delete_connection`] removed before its deadline. The records it
/// could not remove in time stay until their TTL expires; a busy connection is not an error,
/// but the caller says how many were left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "records left behind must be reported"]
pub struct Removal {
    /// Records deleted: the connection item and its subscriptions.
    pub deleted: usize,
    /// Records found but not confirmed deleted when the deadline came (a request cut short
    /// may still have deleted some of them).
    pub left: usize,
    /// Whether every record of the connection was read. When the deadline came first, more
    /// records than `left` may remain.
    pub read_all: bool,
}

impl Removal {
    /// Every record found, `deleted` of them, was deleted.
    pub fn complete(deleted: usize) -> Self {
        Self {
            deleted,
            left: 0,
            read_all: true,
        }
    }

    /// Whether nothing of the connection is known to remain.
    pub fn is_complete(&self) -> bool {
        self.left == 0 && self.read_all
    }
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

    /// Records a subscription unless its connection holds `max_per_connection` already,
    /// counting atomically. Repeating one is harmless.
    async fn subscribe(
        &self,
        subscription: &Subscription<'_>,
        max_per_connection: usize,
    ) -> Result<Subscribed, StoreError>;

    /// Records that `connection_id` wants updates of `entity_id`, uncapped and without a token
    /// expiry (tools and tests that seed a store). Repeating it is harmless.
    async fn put_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let subscription = Subscription {
            connection_id,
            entity_id,
            expires_at,
            token_expires_at: None,
        };
        self.subscribe(&subscription, usize::MAX).await.map(|_| ())
    }

    /// Records that every one of `connection_ids` wants updates of `entity_id`, uncapped and
    /// without a token expiry, in as few requests as the store allows: seeding a large
    /// audience (tools, benches). Repeating it is harmless.
    async fn put_subscriptions(
        &self,
        entity_id: &str,
        connection_ids: &[String],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        for connection_id in connection_ids {
            self.put_subscription(connection_id, entity_id, expires_at)
                .await?;
        }
        Ok(())
    }

    /// Removes one subscription, and counts it off its connection's; removing an absent one is
    /// not an error.
    async fn delete_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError>;

    /// Removes the connection and every subscription it holds, as many as its deadline allows
    /// ([`wspush_contract::timeouts::CONNECTION_REMOVAL_MS`] on DynamoDB); the [`Removal`] says
    /// how many went and how many were left to TTL. A store fault is an error.
    async fn delete_connection(&self, connection_id: &str) -> Result<Removal, StoreError>;

    /// Every connection subscribed to `entity_id`, across all result pages.
    async fn subscribers(&self, entity_id: &str) -> Result<Vec<Recipient>, StoreError>;

    /// Every connection of `user_id`, across all result pages.
    async fn user_connections(&self, user_id: &str) -> Result<Vec<Recipient>, StoreError>;

    /// Every entity id `connection_id` is subscribed to, across all result pages. Handlers do
    /// not need it; the local gateway shows it (`GET /_gateway/connections`, the console).
    async fn subscriptions(&self, connection_id: &str) -> Result<Vec<String>, StoreError>;

    /// Adds `message` to `stream`'s history under the stream's next serial, atomically; an
    /// event id the stream has kept returns the serial it was given, and adds nothing. The
    /// history keeps what `retention` says, counted from `now`.
    async fn append(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError>;

    /// Where `stream` stands, unless it has no messages or its head lapsed before `now`.
    async fn stream_head(
        &self,
        stream: Stream<'_>,
        now: i64,
    ) -> Result<Option<StreamHead>, StoreError>;

    /// The messages of generation `stream_id` of `stream` with serials `first..=last`, in
    /// ascending order, at most `limit`. Expired messages not yet deleted are included (each
    /// says when it expired); missing ones are simply absent.
    async fn stream_messages(
        &self,
        stream: Stream<'_>,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Record counts, where the store can give them cheaply (the embedded store); `None`
    /// elsewhere: counting a DynamoDB table is a full scan no handler should ever make.
    fn census(&self) -> Option<Census> {
        None
    }
}
