//! The live sockets, by connection id: what `@connections` reaches and what shutdown closes.
//!
//! Each socket is owned by its own task ([`crate::websocket`]); the registry holds only a
//! sender to that task and the facts `GET @connections` reports. A std `Mutex` is enough, as in
//! mini-redis: no `.await` happens while it is held and each operation is one map access, so an
//! async mutex would only add cost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Message;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Notify};

/// What a socket's task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// Send this frame.
    Frame(Message),
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

#[derive(Clone)]
struct Entry {
    info: Arc<ConnectionInfo>,
    tx: mpsc::UnboundedSender<Outbound>,
}

/// The connection is not (or no longer) open: `@connections` answers 410.
#[derive(Debug, PartialEq, Eq)]
pub struct Gone;

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
    pub fn insert(&self, info: Arc<ConnectionInfo>, tx: mpsc::UnboundedSender<Outbound>) {
        self.lock()
            .insert(info.connection_id.clone(), Entry { info, tx });
    }

    /// Makes a connection unreachable; from now on `@connections` answers 410 for it.
    pub fn remove(&self, connection_id: &str) -> bool {
        self.lock().remove(connection_id).is_some()
    }

    pub fn info(&self, connection_id: &str) -> Option<Arc<ConnectionInfo>> {
        self.lock().get(connection_id).map(|e| e.info.clone())
    }

    /// Hands `message` to the connection's task.
    pub fn send(&self, connection_id: &str, message: Outbound) -> Result<(), Gone> {
        let tx = self
            .lock()
            .get(connection_id)
            .map(|e| e.tx.clone())
            .ok_or(Gone)?;
        tx.send(message).map_err(|_| Gone)
    }

    /// Closes one connection: it leaves the registry at once, and its task sends the close
    /// frame and runs `$disconnect`.
    pub fn close(&self, connection_id: &str, code: u16, reason: &str) -> Result<(), Gone> {
        let entry = self.lock().remove(connection_id).ok_or(Gone)?;
        entry
            .tx
            .send(Outbound::Close {
                code,
                reason: reason.to_string(),
            })
            .map_err(|_| Gone)
    }

    /// Closes every connection (shutdown).
    pub async fn close_all(&self, code: u16, reason: &str) {
        let entries: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            let _ = entry.tx.send(Outbound::Close {
                code,
                reason: reason.to_string(),
            });
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

    #[tokio::test]
    async fn closed_connections_are_gone() {
        let registry = Registry::new();
        let (tx, mut rx) = mpsc::unbounded_channel();
        registry.insert(info("a"), tx);
        assert!(registry
            .send("a", Outbound::Frame(Message::Text("hi".into())))
            .is_ok());
        assert!(matches!(rx.recv().await, Some(Outbound::Frame(_))));
        assert_eq!(registry.close("a", 1000, ""), Ok(()));
        assert!(matches!(
            rx.recv().await,
            Some(Outbound::Close { code: 1000, .. })
        ));
        assert_eq!(registry.close("a", 1000, ""), Err(Gone));
        assert_eq!(
            registry.send("a", Outbound::Frame(Message::Text("x".into()))),
            Err(Gone)
        );
        assert!(registry.info("a").is_none());
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
