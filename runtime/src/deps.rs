//! What the handlers run on, built once per cold start, and the clock they read.
//!
//! A module of its own so that data flows one way: `dispatch` calls the handlers (`routes`,
//! `fanout`, `auth`), and every handler imports only this, never `dispatch`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenKeys;
use crate::config::PushSettings;
use crate::dead_letters::DeadLetters;
use crate::error::HandlerError;
use crate::push::Pusher;
use crate::store::ConnectionStore;

/// What the handlers run on, built once per cold start.
pub struct Deps {
    pub store: Arc<dyn ConnectionStore>,
    /// Absent on functions that never push (the authorizer, CreateTestJwt).
    pub pusher: Option<Arc<dyn Pusher>>,
    /// Where SQS records that can never succeed go at once; absent on functions that read no
    /// queue (such records are then retried until SQS moves them).
    pub dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Absent on functions that neither verify nor mint tokens.
    pub tokens: Option<TokenKeys>,
    pub record_ttl: Duration,
    pub push: PushSettings,
    pub test_tokens_enabled: bool,
}

impl Deps {
    pub(crate) fn tokens(&self) -> Result<&TokenKeys, HandlerError> {
        self.tokens.as_ref().ok_or(HandlerError::NotConfigured(
            "the JWT secret (JWT_SECRET or JWT_SECRET_ID)",
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
