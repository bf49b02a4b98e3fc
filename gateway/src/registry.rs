//! The live sockets, by connection id: what `@connections` reaches and what shutdown closes.
//!
//! Each socket is owned by its own task ([`crate::websocket`]); the registry holds only a
//! sender to that task, the bytes queued for it, and the facts `GET @connections` reports.
//! A std `Mutex` is enough, as in mini-redis: no `.await` happens while it is held and each
//! operation is one map access, so an async mutex would only add cost.
//!
//! Each connection's outbound buffer is bounded in bytes, whoever writes to it: a client that
//! stops reading fills it, and from then on `@connections` answers 429
//! `LimitExceededException` ("the WebSocket client side buffer is full") and the answers to
//! the client's own frames are dropped and counted ([`Mailbox::reply`]), instead of the
//! gateway's memory growing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, Notify};

use crate::client::Body;

/// What a socket's task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// Send this message (split into frames of at most the frame limit).
    Message(Body),
    /// Send a close frame with this code and reason, then run `$disconnect`.
    Close { code: u16, reason: String },
}

/// The facts API Gateway keeps about a connection.
#[derive(Debug)]
pub struct ConnectionInfo {
    pub connection_id: String,
    /// Milliseconds since the epoch.
    pub connected_at_ms: i64,
    /// Milliseconds since the epoch of the last frame from the client.
    pub last_active_ms: AtomicI64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The authorizer's `principalId` and context, sent with every route invocation.
    pub authorizer: Map<String, Value>,
}

impl ConnectionInfo {
    pub fn touch(&self, now_ms: i64) {
        self.last_active_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }
}

/// The sending side of one socket: its channel and what waits in it.
#[derive(Clone, Debug)]
pub struct Mailbox {
    tx: mpsc::UnboundedSender<Outbound>,
    counters: Arc<Counters>,
}

/// The receiving side, owned by the socket's task.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Outbound>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// What the queued messages [`charge`], until written.
    queued: AtomicUsize,
    /// Answers to the client's own frames that did not fit.
    replies_dropped: AtomicU64,
}

/// What one connection's buffer holds, and what it could not take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferUse {
    /// Bytes waiting to be written to the client (see [`charge`]).
    pub queued_bytes: usize,
    /// Answers to the client's own frames dropped because the buffer was full.
    pub replies_dropped: u64,
}

/// A reply that did not fit in the client's buffer, and how many have not so far.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyDropped {
    pub total: u64,
}

/// The bytes a queued message counts against the client's buffer: its own, and its place in
/// the queue, so even empty messages fill the buffer and the queue's length is bounded too.
pub fn charge(body: &Body) -> usize {
    body.len() + std::mem::size_of::<Outbound>()
}

/// A channel whose queued message bytes are counted.
pub fn mailbox() -> (Mailbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let counters = Arc::new(Counters::default());
    (
        Mailbox {
            tx,
            counters: counters.clone(),
        },
        Inbox { rx, counters },
    )
}

impl Mailbox {
    /// Queues a message unless that would put more than `limit` bytes in the queue.
    fn offer(&self, body: Body, limit: usize) -> Result<(), Refused> {
        let size = charge(&body);
        let queued = &self.counters.queued;
        let mut now = queued.load(Ordering::Acquire);
        loop {
            // One message always fits in an empty queue, whatever its size.
            if now > 0 && now + size > limit {
                return Err(Refused::BufferFull);
            }
            match queued.compare_exchange(now, now + size, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(changed) => now = changed,
            }
        }
        self.tx.send(Outbound::Message(body)).map_err(|_| {
            queued.fetch_sub(size, Ordering::AcqRel);
            Refused::Gone
        })
    }

    /// Queues the answer to one of the client's own frames (a route response, or API
    /// Gateway's error frame) in the same buffer as `@connections` posts, with the same limit.
    /// One that does not fit is dropped and counted: the client is not reading what it asked
    /// for, and holding it anyway would let the client grow the gateway's memory without
    /// bound. After the socket has ended there is nobody to answer, and nothing to count.
    pub fn reply(&self, body: Body, limit: usize) -> Result<(), ReplyDropped> {
        match self.offer(body, limit) {
            Err(Refused::BufferFull) => {
                let before = self.counters.replies_dropped.fetch_add(1, Ordering::AcqRel);
                Err(ReplyDropped { total: before + 1 })
            }
            Ok(()) | Err(Refused::Gone) => Ok(()),
        }
    }

    /// What the buffer holds now, and the replies it could not take.
    pub fn usage(&self) -> BufferUse {
        BufferUse {
            queued_bytes: self.counters.queued.load(Ordering::Acquire),
            replies_dropped: self.counters.replies_dropped.load(Ordering::Acquire),
        }
    }

    fn close(&self, code: u16, reason: &str) -> Result<(), Refused> {
        self.tx
            .send(Outbound::Close {
                code,
                reason: reason.to_string(),
            })
            .map_err(|_| Refused::Gone)
    }
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Outbound> {
        self.rx.recv().await
    }

    /// Marks a message that [`charge`]d `bytes` as written to the socket.
    pub fn sent(&self, bytes: usize) {
        self.counters.queued.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[derive(Clone)]
struct Entry {
    info: Arc<ConnectionInfo>,
    mailbox: Mailbox,
}

/// Why `@connections` could not hand a message to a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The connection is not (or no longer, or not yet) open: 410.
    Gone,
    /// Its outbound buffer is full (the client is not reading): 429.
    BufferFull,
}

#[derive(Default)]
struct Inner {
    connections: Mutex<HashMap<String, Entry>>,
    /// Socket tasks still running (registered or still running `$disconnect`).
    active: AtomicUsize,
    idle: Notify,
}

/// A cloneable handle on the registry.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

/// Held by a socket task for its whole life, so shutdown can wait for `$disconnect` to finish.
pub struct TaskGuard {
    inner: Arc<Inner>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.inner.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Poisoning means a panic mid-insert of a plain map: the map is still consistent.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a socket task as running until the guard drops.
    pub fn task_guard(&self) -> TaskGuard {
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        TaskGuard {
            inner: self.inner.clone(),
        }
    }

    /// Makes a connection reachable through `@connections`.
    pub fn insert(&self, info: Arc<ConnectionInfo>, mailbox: Mailbox) {
        self.lock()
            .insert(info.connection_id.clone(), Entry { info, mailbox });
    }

    /// Makes a connection unreachable; from now on `@connections` answers 410 for it.
    pub fn remove(&self, connection_id: &str) -> bool {
        self.lock().remove(connection_id).is_some()
    }

    pub fn info(&self, connection_id: &str) -> Option<Arc<ConnectionInfo>> {
        self.lock().get(connection_id).map(|e| e.info.clone())
    }

    /// What the connection's buffer holds, and the replies it could not take.
    pub fn usage(&self, connection_id: &str) -> Option<BufferUse> {
        self.lock().get(connection_id).map(|e| e.mailbox.usage())
    }

    /// Hands a message to the connection's task, unless more than `limit` bytes already wait.
    pub fn post(&self, connection_id: &str, body: Body, limit: usize) -> Result<(), Refused> {
        let mailbox = self
            .lock()
            .get(connection_id)
            .map(|e| e.mailbox.clone())
            .ok_or(Refused::Gone)?;
        mailbox.offer(body, limit)
    }

    /// Closes one connection: it leaves the registry at once, and its task sends the close
    /// frame and runs `$disconnect`.
    pub fn close(&self, connection_id: &str, code: u16, reason: &str) -> Result<(), Refused> {
        let entry = self.lock().remove(connection_id).ok_or(Refused::Gone)?;
        entry.mailbox.close(code, reason)
    }

    /// Closes every connection (shutdown).
    pub async fn close_all(&self, code: u16, reason: &str) {
        let entries: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            let _ = entry.mailbox.close(code, reason);
        }
    }

    /// The ids of the open connections.
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every socket task has finished, or `limit` passes.
    pub async fn wait_idle(&self, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.inner.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!(
                remaining = self.inner.active.load(Ordering::Acquire),
                "sockets still closing at shutdown"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> Arc<ConnectionInfo> {
        Arc::new(ConnectionInfo {
            connection_id: id.to_string(),
            connected_at_ms: 1,
            last_active_ms: AtomicI64::new(1),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            authorizer: Map::new(),
        })
    }

    fn text(s: &str) -> Body {
        Body::Text(s.to_string())
    }

    #[tokio::test]
    async fn closed_connections_are_gone() {
        let registry = Registry::new();
        let (mailbox, mut inbox) = mailbox();
        registry.insert(info("a"), mailbox);
        assert_eq!(registry.post("a", text("hi"), 1024), Ok(()));
        assert!(matches!(inbox.recv().await, Some(Outbound::Message(_))));
        assert_eq!(registry.close("a", 1000, ""), Ok(()));
        assert!(matches!(
            inbox.recv().await,
            Some(Outbound::Close { code: 1000, .. })
        ));
        assert_eq!(registry.close("a", 1000, ""), Err(Refused::Gone));
        assert_eq!(registry.post("a", text("x"), 1024), Err(Refused::Gone));
        assert!(registry.info("a").is_none());
    }

    #[tokio::test]
    async fn a_full_buffer_refuses_until_the_socket_drains() {
        let registry = Registry::new();
        let (mailbox, inbox) = mailbox();
        registry.insert(info("a"), mailbox);
        let chunk = "x".repeat(400);
        assert_eq!(registry.post("a", text(&chunk), 1000), Ok(()));
        assert_eq!(registry.post("a", text(&chunk), 1000), Ok(()));
        assert_eq!(
            registry.post("a", text(&chunk), 1000),
            Err(Refused::BufferFull)
        );
        inbox.sent(charge(&text(&chunk)));
        assert_eq!(registry.post("a", text(&chunk), 1000), Ok(()));
    }

    #[tokio::test]
    async fn replies_share_the_buffer_and_are_dropped_and_counted_when_it_is_full() {
        let registry = Registry::new();
        let (mailbox, mut inbox) = mailbox();
        registry.insert(info("a"), mailbox.clone());
        let chunk = "x".repeat(400);
        assert_eq!(registry.post("a", text(&chunk), 1000), Ok(()));
        assert_eq!(mailbox.reply(text(&chunk), 1000), Ok(()));
        assert_eq!(
            mailbox.reply(text(&chunk), 1000),
            Err(ReplyDropped { total: 1 })
        );
        assert_eq!(
            registry.post("a", text(&chunk), 1000),
            Err(Refused::BufferFull),
            "replies count against the posts' buffer"
        );
        // Empty messages fill it too: their number is bounded.
        let (full, empty) = (charge(&text(&chunk)), charge(&text("")));
        let room = (1000 - 2 * full) / empty;
        let empties = (0..10_000)
            .filter(|_| mailbox.reply(text(""), 1000).is_ok())
            .count();
        assert_eq!(empties, room);
        let usage = registry.usage("a").expect("registered");
        assert_eq!(usage.queued_bytes, 2 * full + room * empty);
        assert_eq!(usage.replies_dropped, 1 + 10_000 - room as u64);
        assert!(matches!(inbox.recv().await, Some(Outbound::Message(_))));
    }

    #[tokio::test]
    async fn wait_idle_returns_when_tasks_end() {
        let registry = Registry::new();
        let guard = registry.task_guard();
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.wait_idle(Duration::from_secs(5)).await })
        };
        drop(guard);
        assert!(waiter.await.is_ok());
    }
}
