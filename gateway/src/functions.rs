//! The deployed functions, each with its own concurrency, as Lambda runs them.
//!
//! On AWS five functions share one artifact: the authorizer, the connection routes, the event
//! consumer, the pushers and CreateTestJwt. Each serves only its own event kinds
//! (`wspush_contract::event_kinds`), and Lambda bounds how many of its invocations run at once.
//! The gateway hosts the same runtime once and gives each function a view of it restricted to
//! those kinds, plus a pool of concurrency slots:
//!
//! - a synchronous invocation (API Gateway calling the authorizer or a route, `Invoke`) that
//!   finds no free slot is throttled, as Lambda answers `TooManyRequestsException`;
//! - an asynchronous source (a queue's poller) waits for a slot, as the SQS event source
//!   mapping does: the message stays in its queue.
//!
//! The pushers' slots are their event source mapping's maximum concurrency
//! (`push_queue::pushers` of the push rate limit), and each pusher paces its pushes at its
//! share of that rate, as deployed ([`Pushers`]).
//!
//! Counters per function (invocations, errors, throttles, peak concurrency) are served under
//! `/_gateway/functions` so load tests and the console can see them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wspush_contract::{defaults, event_kinds, push_queue};
use wspush_runtime::config::PushSettings;
use wspush_runtime::event_kind::EventKinds;
use wspush_runtime::{HandlerError, Runtime};

/// Why an invocation produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every concurrency slot of the function was busy (Lambda's 429).
    #[error("Rate Exceeded: the function's concurrency limit is reached")]
    Throttled,
    /// The function ran and failed.
    #[error(transparent)]
    Function(#[from] HandlerError),
}

/// What `/_gateway/functions` reports for one function.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStats {
    pub name: String,
    pub concurrency_limit: usize,
    pub running: usize,
    pub peak_running: usize,
    pub invocations: u64,
    pub errors: u64,
    pub throttles: u64,
}

/// One deployed function: its name, the runtime restricted to its event kinds, and its slots.
pub struct Function {
    name: &'static str,
    runtime: Runtime,
    slots: Arc<Semaphore>,
    limit: usize,
    running: AtomicUsize,
    peak: AtomicUsize,
    invocations: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
}

impl Function {
    fn new(name: &'static str, runtime: &Runtime, kinds: &[&str], limit: usize) -> Self {
        Self::serving(name, runtime.restricted(served_kinds(name, kinds)), limit)
    }

    /// The pushers: their own push settings (the pace of each), their count as the limit.
    fn pushers(runtime: &Runtime, pushers: &Pushers) -> Self {
        const NAME: &str = "Pusher";
        let push = PushSettings {
            max_rate: pushers.max_rate,
            ..runtime.deps().push.clone()
        };
        let kinds = served_kinds(NAME, &event_kinds::PUSHER_FUNCTION);
        Self::serving(
            NAME,
            runtime.restricted_with_push(kinds, push),
            pushers.count,
        )
    }

    fn serving(name: &'static str, runtime: Runtime, limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            name,
            runtime,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// A synchronous invocation: throttled at once when no slot is free.
    pub async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(function = self.name, "invocation throttled");
            return Err(InvokeError::Throttled);
        };
        self.run(permit, event).await
    }

    /// An invocation from an asynchronous source: waits for a free slot.
    pub async fn invoke_when_free(&self, event: Value) -> Result<Value, InvokeError> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| InvokeError::Throttled)?;
        self.run(permit, event).await
    }

    /// Waits until a slot is free and holds it: the queue poller takes a slot before it takes
    /// messages, so messages wait in their queue, not in memory.
    pub async fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Runs `event` in a slot reserved with [`Function::reserve`].
    pub async fn invoke_reserved(
        &self,
        permit: OwnedSemaphorePermit,
        event: Value,
    ) -> Result<Value, InvokeError> {
        self.run(permit, event).await
    }

    async fn run(&self, permit: OwnedSemaphorePermit, event: Value) -> Result<Value, InvokeError> {
        let running = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(running, Ordering::AcqRel);
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let result = self.runtime.handle(event).await;
        self.running.fetch_sub(1, Ordering::AcqRel);
        drop(permit);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result.map_err(InvokeError::Function)
    }

    pub fn stats(&self) -> FunctionStats {
        FunctionStats {
            name: self.name.to_string(),
            concurrency_limit: self.limit,
            running: self.running.load(Ordering::Acquire),
            peak_running: self.peak.load(Ordering::Acquire),
            invocations: self.invocations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            throttles: self.throttles.load(Ordering::Relaxed),
        }
    }
}

/// The kinds a function serves. The lists are the contract's constants (a runtime test parses
/// each); should one ever not parse, the function serves nothing rather than everything.
fn served_kinds(function: &'static str, kinds: &[&str]) -> EventKinds {
    EventKinds::parse(&kinds.join(",")).unwrap_or_else(|unknown| {
        tracing::error!(function, %unknown, "unknown event kind; the function serves nothing");
        EventKinds::only(&[])
    })
}

/// Concurrency limits of the functions besides the pushers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concurrency {
    /// The authorizer, the routes and CreateTestJwt, each.
    pub per_function: usize,
    /// Concurrent batches of the event consumer.
    pub events: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            // Lambda's default account concurrency; a single function may use all of it.
            // (On AWS the 1,000 are shared by the account's functions; here each has its own.)
            per_function: 1000,
            // The SQS event source mapping starts with five concurrent batches.
            events: 5,
        }
    }
}

/// The pushers as their push rate limit (`PushRateLimit` when deployed) makes them: as many
/// as [`push_queue::pushers`] at once, each paced at [`push_queue::rate_per_pusher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushers {
    /// The event source mapping's maximum concurrency.
    pub count: usize,
    /// `@connections` calls a second each pusher keeps to; `None`: found by 429s alone.
    pub max_rate: Option<u32>,
}

impl Pushers {
    /// The pushers sharing `rate_limit` calls a second.
    pub fn sharing(rate_limit: u32) -> Self {
        Self {
            count: push_queue::pushers(rate_limit) as usize,
            max_rate: Some(push_queue::rate_per_pusher(rate_limit)),
        }
    }
}

impl Default for Pushers {
    /// As many pushers as the deployed default rate limit makes, unpaced: the account
    /// throttle is off by default locally, so there is no rate to share.
    fn default() -> Self {
        Self {
            max_rate: None,
            ..Self::sharing(defaults::PUSH_RATE_LIMIT)
        }
    }
}

/// The five functions of a deployment.
pub struct Functions {
    pub authorizer: Function,
    pub routes: Function,
    pub events: Function,
    pub pusher: Function,
    pub test_token: Function,
}

impl Functions {
    pub fn new(runtime: &Runtime, concurrency: &Concurrency, pushers: &Pushers) -> Self {
        let per = concurrency.per_function;
        Self {
            authorizer: Function::new(
                "Authorizer",
                runtime,
                &event_kinds::AUTHORIZER_FUNCTION,
                per,
            ),
            routes: Function::new(
                "ConnectionRoutes",
                runtime,
                &event_kinds::ROUTES_FUNCTION,
                per,
            ),
            events: Function::new(
                "Events",
                runtime,
                &event_kinds::EVENTS_FUNCTION,
                concurrency.events,
            ),
            pusher: Function::pushers(runtime, pushers),
            test_token: Function::new(
                defaults::TEST_TOKEN_FUNCTION,
                runtime,
                &event_kinds::TEST_TOKEN_FUNCTION,
                per,
            ),
        }
    }

    pub fn all(&self) -> [&Function; 5] {
        [
            &self.authorizer,
            &self.routes,
            &self.events,
            &self.pusher,
            &self.test_token,
        ]
    }
}
