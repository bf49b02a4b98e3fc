//! Virtual connections: connection ids with no socket behind them, so the whole push path can
//! be measured with more subscribers than any machine has descriptors for (local only; AWS has
//! nothing like it).
//!
//! A million subscribers of one entity would need a million sockets in the gateway and as many
//! in the clients. A virtual connection is only an id subscribed to an entity in the store: the
//! fan-out finds it as it finds any subscriber, and the runtime pushes to it with a signed
//! `@connections` request that passes exactly the checks a push to a socket passes (stage,
//! size, SigV4, account throttle; [`crate::connections`]). There a counter takes the message
//! instead of a socket's buffer, and what each id received is what a measurement reads: every
//! id exactly once.
//!
//! Lean on purpose: an id is `virtual-{n}`, and all an id costs is one `AtomicU32` (4 MB a
//! million) in the block of its registration, found from `n`. Ids are never reused within a
//! process, so a late push to a removed id is 410 and never counts for a newer one, and they
//! never collide with API Gateway's ids (16 characters of standard base64, which has no `-`).
//!
//! The blocks sit behind a std `RwLock`, as the [`crate::registry`] map behind its `Mutex`:
//! nothing awaits under it, a push holds it for one lookup, and registrations, which take it
//! for writing, are rare.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use futures::{StreamExt, TryStreamExt};
use wspush_runtime::frames::MAX_ENTITY_ID_BYTES;
use wspush_runtime::store::{ConnectionStore, StoreError};

/// What every virtual connection id starts with; its number follows.
pub const ID_PREFIX: &str = "virtual-";

/// The most ids one registration may ask for: twice the million a measurement needs.
pub const MAX_PER_REGISTRATION: usize = 2_000_000;

/// Ids written to (or removed from) the store in one step of a registration (or a removal).
const STORE_CHUNK: usize = 1_000;

/// Removal steps in flight at once, each one request at a time: enough to keep DynamoDB busy,
/// few enough to leave the gateway's cores to the pushes.
const REMOVALS_IN_FLIGHT: usize = 8;

/// A counter's value once its id was removed: no push counts on it again.
const REMOVED: u32 = u32::MAX;

/// A registration the registry refuses, with what to send instead.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("\"entityId\" must be a non-empty string: the entity every virtual connection is subscribed to")]
    MissingEntityId,
    #[error("\"entityId\" is longer than {MAX_ENTITY_ID_BYTES} bytes")]
    EntityIdTooLong,
    #[error("\"count\" must be a number from 1 to {MAX_PER_REGISTRATION}, not {0}")]
    Count(String),
}

/// Every virtual connection of the gateway, with what each received.
#[derive(Debug, Default)]
pub struct VirtualConnections {
    /// The registrations, in ascending order of their first number.
    blocks: RwLock<Vec<Arc<Block>>>,
    /// The number the next registration starts at.
    next: AtomicU64,
}

/// One registration: consecutive ids, all subscribed to one entity at one moment.
#[derive(Debug)]
pub struct Block {
    first: u64,
    entity_id: String,
    connected_at_ms: i64,
    /// Messages each id received; [`REMOVED`] once it was deleted.
    received: Box<[AtomicU32]>,
}

/// Ids reserved for a registration, not yet reachable: [`seed`] subscribes them, then
/// [`VirtualConnections::insert`] makes them reachable.
#[derive(Debug)]
pub struct Registration {
    numbers: Range<u64>,
    entity_id: String,
}

/// What the virtual connections received, as `GET /_gateway/virtual-connections` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Ids registered and not removed.
    pub registered: u64,
    /// Ids that received at least one message.
    pub delivered: u64,
    /// Ids that received none: `registered - delivered`.
    pub missing: u64,
    /// Messages beyond the first, over all ids.
    pub repeated: u64,
    /// Messages, over all ids.
    pub received: u64,
}

/// The id of number `n`.
pub fn id(n: u64) -> String {
    format!("{ID_PREFIX}{n}")
}

/// The number of `id`, when it is a virtual connection's id in its one spelling (no sign, no
/// leading zero).
fn number(id: &str) -> Option<u64> {
    let digits = id.strip_prefix(ID_PREFIX)?;
    let n: u64 = digits.parse().ok()?;
    (n.to_string() == digits).then_some(n)
}

impl Registration {
    /// The ids reserved, in order.
    pub fn ids(&self) -> impl Iterator<Item = String> + '_ {
        self.numbers.clone().map(id)
    }

    /// The first and the last id.
    pub fn first_and_last(&self) -> (String, String) {
        (id(self.numbers.start), id(self.numbers.end - 1))
    }

    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    pub fn len(&self) -> usize {
        usize::try_from(self.numbers.end - self.numbers.start).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }
}

impl Block {
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The ids of this block that were not removed one by one.
    pub fn live_ids(&self) -> Vec<String> {
        self.received
            .iter()
            .zip(self.first..)
            .filter(|(count, _)| count.load(Ordering::Acquire) != REMOVED)
            .map(|(_, n)| id(n))
            .collect()
    }
}

impl VirtualConnections {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `count` fresh ids subscribed to `entity_id`, after checking both.
    pub fn reserve(&self, entity_id: &str, count: u64) -> Result<Registration, Invalid> {
        if entity_id.is_empty() {
            return Err(Invalid::MissingEntityId);
        }
        if entity_id.len() > MAX_ENTITY_ID_BYTES {
            return Err(Invalid::EntityIdTooLong);
        }
        if count == 0 || count > MAX_PER_REGISTRATION as u64 {
            return Err(Invalid::Count(count.to_string()));
        }
        let first = self.next.fetch_add(count, Ordering::AcqRel);
        Ok(Registration {
            numbers: first..first + count,
            entity_id: entity_id.to_string(),
        })
    }

    /// Makes the ids of `registration` reachable, connected at `now_ms`.
    pub fn insert(&self, registration: Registration, now_ms: i64) {
        let received = registration.numbers.clone().map(|_| AtomicU32::new(0));
        let block = Arc::new(Block {
            first: registration.numbers.start,
            entity_id: registration.entity_id,
            connected_at_ms: now_ms,
            received: received.collect(),
        });
        let mut blocks = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        // Registrations run concurrently: keep the blocks ordered by their first number.
        let at = blocks.partition_point(|b| b.first < block.first);
        blocks.insert(at, block);
    }

    fn blocks(&self) -> RwLockReadGuard<'_, Vec<Arc<Block>>> {
        // Poisoning leaves counters that are consistent on their own.
        self.blocks.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the block and the counter of `id`, when it is a registered virtual id.
    fn with_counter<R>(&self, id: &str, f: impl FnOnce(&Block, &AtomicU32) -> R) -> Option<R> {
        let n = number(id)?;
        let blocks = self.blocks();
        let at = blocks.partition_point(|b| b.first <= n).checked_sub(1)?;
        let block = &blocks[at];
        let index = usize::try_from(n - block.first).ok()?;
        let counter = block.received.get(index)?;
        (counter.load(Ordering::Acquire) != REMOVED).then(|| f(block, counter))
    }

    /// Counts one message for `id`; `false` when it is no (longer a) virtual connection.
    pub fn post(&self, id: &str) -> bool {
        self.with_counter(id, |_, counter| {
            counter
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                    (count != REMOVED).then(|| count.saturating_add(1).min(REMOVED - 1))
                })
                .is_ok()
        })
        .unwrap_or(false)
    }

    /// When `id` was registered (milliseconds since the epoch), while it is registered.
    pub fn connected_at_ms(&self, id: &str) -> Option<i64> {
        self.with_counter(id, |block, _| block.connected_at_ms)
    }

    /// Removes `id`; returns the entity it was subscribed to, or `None` when it was not
    /// registered.
    pub fn remove(&self, id: &str) -> Option<String> {
        self.with_counter(id, |block, counter| {
            (counter.swap(REMOVED, Ordering::AcqRel) != REMOVED).then(|| block.entity_id.clone())
        })
        .flatten()
    }

    /// Removes every virtual connection; returns their blocks, for [`unsubscribe`].
    pub fn remove_all(&self) -> Vec<Arc<Block>> {
        let mut blocks = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *blocks)
    }

    /// Zeroes every count (removed ids stay removed).
    pub fn reset(&self) {
        for counter in self.blocks().iter().flat_map(|b| b.received.iter()) {
            let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count != REMOVED && count != 0).then_some(0)
            });
        }
    }

    /// What the registered ids received.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for counter in self.blocks().iter().flat_map(|b| b.received.iter()) {
            let count = counter.load(Ordering::Acquire);
            if count == REMOVED {
                continue;
            }
            let count = u64::from(count);
            summary.registered += 1;
            summary.delivered += u64::from(count > 0);
            summary.repeated += count.saturating_sub(1);
            summary.received += count;
        }
        summary.missing = summary.registered - summary.delivered;
        summary
    }
}

/// Attempts at writing one chunk of a registration's subscriptions.
const SEED_ATTEMPTS: u32 = 5;

/// Subscribes every id of `registration` to its entity in `store`, records expiring at
/// `expires_at`, one chunk after another, each with the store's bulk write
/// (`put_subscriptions`), which sends its batches in parallel itself: chunks in parallel too
/// would keep more requests in flight than DynamoDB Local answers within the SDK's timeout.
/// A chunk that fails is written again (repeating it is harmless): a DynamoDB Local that has
/// just started can take longer than that timeout over its first batches.
pub async fn seed(
    store: &dyn ConnectionStore,
    registration: &Registration,
    expires_at: i64,
) -> Result<(), StoreError> {
    let entity_id = registration.entity_id();
    let numbers = registration.numbers.clone();
    let chunks = numbers
        .clone()
        .step_by(STORE_CHUNK)
        .map(move |start| start..(start + STORE_CHUNK as u64).min(numbers.end));
    for chunk in chunks {
        let ids: Vec<String> = chunk.map(id).collect();
        let mut attempt = 1;
        while let Err(e) = store.put_subscriptions(entity_id, &ids, expires_at).await {
            if attempt == SEED_ATTEMPTS {
                return Err(e);
            }
            tracing::warn!(error = %e, attempt, "subscribing virtual connections; trying again");
            tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
            attempt += 1;
        }
    }
    Ok(())
}

/// Deletes the subscriptions of every id of `blocks` still registered when they were removed,
/// in chunks deleted concurrently; returns how many.
pub async fn unsubscribe(
    store: &dyn ConnectionStore,
    blocks: &[Arc<Block>],
) -> Result<usize, StoreError> {
    let mut removed = 0;
    for block in blocks {
        let ids = block.live_ids();
        let entity_id = block.entity_id();
        // Owned chunks: a future borrowing its slice would not be `Send` for every lifetime.
        futures::stream::iter(ids.chunks(STORE_CHUNK).map(<[String]>::to_vec))
            .map(|chunk| async move {
                for id in &chunk {
                    store.delete_subscription(id, entity_id).await?;
                }
                Ok::<_, StoreError>(())
            })
            .buffer_unordered(REMOVALS_IN_FLIGHT)
            .try_collect::<()>()
            .await?;
        removed += ids.len();
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(connections: &VirtualConnections, entity: &str, count: u64) -> Vec<String> {
        let registration = connections.reserve(entity, count).expect("valid");
        let ids = registration.ids().collect();
        connections.insert(registration, 1_000);
        ids
    }

    #[test]
    fn ids_have_one_spelling_and_never_look_like_api_gateways() {
        assert_eq!(number("virtual-0"), Some(0));
        assert_eq!(number("virtual-12"), Some(12));
        for not_one in [
            "virtual-012",
            "virtual-+1",
            "virtual-",
            "virtual--1",
            "R0oXAdfD0kwCH6w=",
        ] {
            assert_eq!(number(not_one), None, "{not_one}");
        }
        assert!(!id(7)
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
    }

    #[test]
    fn each_post_counts_and_the_summary_adds_them_up() {
        let connections = VirtualConnections::new();
        let ids = registered(&connections, "e", 3);
        let more = registered(&connections, "f", 2);
        assert_eq!(ids, ["virtual-0", "virtual-1", "virtual-2"]);
        assert_eq!(more, ["virtual-3", "virtual-4"]);
        for id in [&ids[0], &ids[1], &ids[1], &ids[1], &more[0]] {
            assert!(connections.post(id));
        }
        assert!(!connections.post("virtual-5"), "never registered");
        assert_eq!(
            connections.summary(),
            Summary {
                registered: 5,
                delivered: 3,
                missing: 2,
                repeated: 2,
                received: 5
            }
        );
        connections.reset();
        assert_eq!(connections.summary().received, 0);
        assert_eq!(connections.summary().registered, 5);
    }

    #[test]
    fn a_removed_id_is_gone_and_its_number_never_comes_back() {
        let connections = VirtualConnections::new();
        let ids = registered(&connections, "e", 2);
        assert_eq!(connections.connected_at_ms(&ids[0]), Some(1_000));
        assert_eq!(connections.remove(&ids[0]).as_deref(), Some("e"));
        assert_eq!(connections.remove(&ids[0]), None);
        assert!(!connections.post(&ids[0]));
        assert_eq!(connections.connected_at_ms(&ids[0]), None);
        assert_eq!(connections.summary().registered, 1);
        let blocks = connections.remove_all();
        assert_eq!(blocks[0].live_ids(), [ids[1].clone()]);
        assert!(!connections.post(&ids[1]));
        assert_eq!(registered(&connections, "e", 1), ["virtual-2"]);
    }

    #[test]
    fn registrations_are_checked() {
        let connections = VirtualConnections::new();
        assert_eq!(
            connections.reserve("", 1).err(),
            Some(Invalid::MissingEntityId)
        );
        assert_eq!(
            connections
                .reserve(&"x".repeat(MAX_ENTITY_ID_BYTES + 1), 1)
                .err(),
            Some(Invalid::EntityIdTooLong)
        );
        assert!(connections.reserve("e", 0).is_err());
        assert!(connections
            .reserve("e", MAX_PER_REGISTRATION as u64 + 1)
            .is_err());
        let most = connections.reserve("e", MAX_PER_REGISTRATION as u64);
        assert_eq!(most.map(|r| r.len()).ok(), Some(MAX_PER_REGISTRATION));
    }
}
