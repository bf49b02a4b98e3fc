//! The embedded store: the same contract as DynamoDB, held in memory.
//!
//! It serves the local gateway by default and the unit tests. A std `Mutex` is enough: no
//! `.await` happens while it is held, and each operation is a few map updates.

mod streams;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use self::streams::StreamRecords;
use super::{
    Appended, Census, ConnectionRecord, ConnectionStore, NewMessage, Recipient, Removal, Retention,
    StoreError, StoredMessage, Stream, StreamHead, Subscribed, Subscription,
};

#[derive(Default)]
struct Tables {
    connections: HashMap<String, ConnectionRecord>,
    /// connection id → subscribed entity ids (the table's `pk` → `subscription#…` items).
    subscriptions: HashMap<String, BTreeSet<String>>,
    /// entity id → subscribed connections with their token expiry (the GSI1 view of the same
    /// items).
    subscribers: HashMap<String, BTreeSet<Recipient>>,
    /// user id → connections with their token expiry (the GSI1 view of connection items).
    users: HashMap<String, BTreeSet<Recipient>>,
    /// stream key → its head, messages and event ids.
    streams: HashMap<String, StreamRecords>,
}

/// In-memory [`ConnectionStore`]. Cheap to clone handles share one set of tables.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: std::sync::Arc<Mutex<Tables>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A poisoned lock only means another thread panicked mid-update of plain maps; the
        // maps are still usable, so keep serving rather than failing every later request.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of connection records, for the gateway's status output and tests.
    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// A snapshot of one connection record.
    pub fn connection(&self, connection_id: &str) -> Option<ConnectionRecord> {
        self.lock().connections.get(connection_id).cloned()
    }
}

fn remove_from(index: &mut HashMap<String, BTreeSet<String>>, key: &str, value: &str) {
    if let Some(set) = index.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// Removes `connection_id` from the recipients under `key`, whatever its token expiry.
fn remove_recipient(
    index: &mut HashMap<String, BTreeSet<Recipient>>,
    key: &str,
    connection_id: &str,
) {
    if let Some(set) = index.get_mut(key) {
        set.retain(|r| r.connection_id != connection_id);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

fn recipients(index: &HashMap<String, BTreeSet<Recipient>>, key: &str) -> Vec<Recipient> {
    index
        .get(key)
        .map(|set| set.iter().cloned().collect())
        .unwrap_or_default()
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        let mut t = self.lock();
        if let Some(old) = t
            .connections
            .insert(record.connection_id.clone(), record.clone())
        {
            remove_recipient(&mut t.users, &old.user_id, &old.connection_id);
        }
        t.users
            .entry(record.user_id.clone())
            .or_default()
            .insert(Recipient {
                connection_id: record.connection_id.clone(),
                token_expires_at: record.token_expires_at,
            });
        Ok(())
    }

    /// Counted and stored under one lock, so the cap holds however many run at once.
    async fn subscribe(
        &self,
        subscription: &Subscription<'_>,
        max_per_connection: usize,
    ) -> Result<Subscribed, StoreError> {
        let mut tables = self.lock();
        let t = &mut *tables;
        let held = t
            .subscriptions
            .entry(subscription.connection_id.to_string())
            .or_default();
        if held.contains(subscription.entity_id) {
            return Ok(Subscribed::AlreadySubscribed);
        }
        if held.len() >= max_per_connection {
            return Ok(Subscribed::LimitReached);
        }
        held.insert(subscription.entity_id.to_string());
        t.subscribers
            .entry(subscription.entity_id.to_string())
            .or_default()
            .insert(Recipient {
                connection_id: subscription.connection_id.to_string(),
                token_expires_at: subscription.token_expires_at,
            });
        Ok(Subscribed::Added)
    }

    /// All under one lock: a million subscriptions take a second, not a million lock turns.
    async fn put_subscriptions(
        &self,
        entity_id: &str,
        connection_ids: &[String],
        _expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tables = self.lock();
        let t = &mut *tables;
        let subscribers = t.subscribers.entry(entity_id.to_string()).or_default();
        for connection_id in connection_ids {
            let held = t.subscriptions.entry(connection_id.clone()).or_default();
            if held.insert(entity_id.to_string()) {
                subscribers.insert(Recipient {
                    connection_id: connection_id.clone(),
                    token_expires_at: None,
                });
            }
        }
        Ok(())
    }

    async fn delete_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        remove_from(&mut t.subscriptions, connection_id, entity_id);
        remove_recipient(&mut t.subscribers, entity_id, connection_id);
        Ok(())
    }

    /// Everything goes at once, under one lock: nothing is ever left.
    async fn delete_connection(&self, connection_id: &str) -> Result<Removal, StoreError> {
        let mut t = self.lock();
        let mut removed = 0;
        if let Some(record) = t.connections.remove(connection_id) {
            remove_recipient(&mut t.users, &record.user_id, connection_id);
            removed += 1;
        }
        for entity_id in t.subscriptions.remove(connection_id).unwrap_or_default() {
            remove_recipient(&mut t.subscribers, &entity_id, connection_id);
            removed += 1;
        }
        Ok(Removal::complete(removed))
    }

    async fn subscribers(&self, entity_id: &str) -> Result<Vec<Recipient>, StoreError> {
        Ok(recipients(&self.lock().subscribers, entity_id))
    }

    async fn user_connections(&self, user_id: &str) -> Result<Vec<Recipient>, StoreError> {
        Ok(recipients(&self.lock().users, user_id))
    }

    async fn subscriptions(&self, connection_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .subscriptions
            .get(connection_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn append(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError> {
        let mut tables = self.lock();
        let key = stream.key();
        let mut records = tables.streams.remove(&key);
        let appended = StreamRecords::append(&mut records, message, retention, now);
        tables.streams.extend(records.map(|r| (key, r)));
        Ok(appended)
    }

    async fn stream_head(
        &self,
        stream: Stream<'_>,
        now: i64,
    ) -> Result<Option<StreamHead>, StoreError> {
        let tables = self.lock();
        Ok(tables.streams.get(&stream.key()).and_then(|r| r.head(now)))
    }

    async fn stream_messages(
        &self,
        stream: Stream<'_>,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let tables = self.lock();
        Ok(tables
            .streams
            .get(&stream.key())
            .map(|r| r.messages(stream_id, serials, limit))
            .unwrap_or_default())
    }

    fn census(&self) -> Option<Census> {
        let tables = self.lock();
        Some(Census {
            connections: tables.connections.len(),
            subscriptions: tables.subscriptions.values().map(BTreeSet::len).sum(),
        })
    }
}
