//! What the handlers run on, built once per cold start, and the clock they read.
//!
//! A module of its own so that data flows one way: `dispatch` calls the handlers (`routes`,
//! `fanout`, `auth`), and every handler imports only this, never `dispatch`.

use std::sync::Arc;
use std::time::Duration;

use crate::access::SubscribeAccess;
use crate::auth::TokenKeys;
use crate::config::{PlanSettings, PushSettings};
use crate::dead_letters::DeadLetters;
use crate::error::HandlerError;
use crate::push::Pusher;
use crate::push_queue::PushQueue;
use crate::store::{ConnectionStore, Retention};

/// What the handlers run on, built once per cold start. Cloning shares the clients.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn ConnectionStore>,
    /// Absent on functions that never push (the authorizer, CreateTestJwt).
    pub pusher: Option<Arc<dyn Pusher>>,
    /// Where SQS records that can never succeed go at once; absent on functions that read no
    /// queue (such records are then retried until SQS moves them).
    pub dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Absent on functions that neither verify nor mint tokens.
    pub tokens: Option<TokenKeys>,
    /// Who may subscribe to what, and how many subscriptions a connection may hold.
    pub access: Arc<SubscribeAccess>,
    /// Seconds of clock skew tolerated on a connection's token expiry (`JWT_LEEWAY_SECONDS`).
    pub token_leeway_secs: u64,
    pub record_ttl: Duration,
    pub push: PushSettings,
    /// Where the events function enqueues push batches for a large audience
    /// (`PUSH_QUEUE_URL`); absent: it pushes every event itself.
    pub push_queue: Option<Arc<dyn PushQueue>>,
    /// When an event is planned into push batches, and how large they are.
    pub plan: PlanSettings,
    /// How long and how many messages each stream keeps (`HISTORY_*`); off at 0 messages.
    pub history: Retention,
    pub test_tokens_enabled: bool,
}

impl Deps {
    pub(crate) fn tokens(&self) -> Result<&TokenKeys, HandlerError> {
        self.tokens.as_ref().ok_or(HandlerError::NotConfigured(
            "a token key (JWT_SECRET, JWT_SECRET_ID, JWT_ISSUER or JWKS_URL)",
        ))
    }

    pub(crate) fn pusher(&self) -> Result<&dyn Pusher, HandlerError> {
        self.pusher
            .as_deref()
            .ok_or(HandlerError::NotConfigured("MANAGEMENT_ENDPOINT"))
    }
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
