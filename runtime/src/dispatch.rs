//! The one entry point: an event in any supported shape in, the Lambda response out.
//!
//! [`Runtime::handle`] is what the Lambda binary registers with `lambda_runtime` and what the
//! local gateway calls in-process with the very events API Gateway and EventBridge would send.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::auth;
use crate::config::PushSettings;
use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::event::{classify, Incoming};
use crate::event_kind::EventKinds;
use crate::{fanout, routes};

/// The test-token response: the quick start's README read `token`, its function returned
/// `authToken`; both carry the same value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestTokenResponse {
    pub token: String,
    pub auth_token: String,
}

/// The handler behind every event. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    deps: Arc<Deps>,
    serves: Arc<EventKinds>,
}

impl Runtime {
    /// A runtime serving every event kind (the local gateway, tests).
    pub fn new(deps: Deps) -> Self {
        Self::serving(deps, EventKinds::all())
    }

    /// A runtime that serves only `serves` and refuses every other shape, as each deployed
    /// function does (its `EVENT_KINDS`).
    pub fn serving(deps: Deps, serves: EventKinds) -> Self {
        Self {
            deps: Arc::new(deps),
            serves: Arc::new(serves),
        }
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// The same dependencies, serving only `serves`: one cold start's clients shared by
    /// several functions (the local gateway hosts all four in one process).
    pub fn restricted(&self, serves: EventKinds) -> Runtime {
        Self {
            deps: self.deps.clone(),
            serves: Arc::new(serves),
        }
    }

    /// The same dependencies with other push settings, serving only `serves`: the local
    /// gateway's pushers, paced at their share of the account's rate.
    pub fn restricted_with_push(&self, serves: EventKinds, push: PushSettings) -> Runtime {
        let mut deps = (*self.deps).clone();
        deps.push = push;
        Self::serving(deps, serves)
    }

    /// The dependencies back, when this is the only handle (to serve them differently).
    pub fn into_deps(self) -> Option<Deps> {
        Arc::into_inner(self.deps)
    }

    /// Handles one event of any supported shape.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        let incoming =
            classify(event).inspect_err(|e| tracing::warn!(error = %e, "refused event"))?;
        let kind = incoming.kind();
        if !self.serves.contains(kind) {
            let refusal = HandlerError::NotServed {
                kind,
                serves: self.serves.to_string(),
            };
            tracing::warn!(error = %refusal, "refused event");
            return Err(refusal);
        }
        let result = self.dispatch(incoming).await;
        if let Err(e) = &result {
            tracing::warn!(event_kind = %kind, error = %e, permanent = e.is_permanent(), "event failed");
        }
        result
    }

    async fn dispatch(&self, incoming: Incoming) -> Result<Value, HandlerError> {
        let deps = &*self.deps;
        match incoming {
            Incoming::Authorizer(request) => {
                let needed_claims = deps.access.policy().claim_paths();
                let response = auth::authorize(&request, deps.tokens()?, &needed_claims, now())
                    .await
                    // Why, for whoever reads the logs; never the token. The client sees 401.
                    .inspect_err(
                        |refusal| tracing::info!(reason = %refusal.0, "$connect refused"),
                    )?;
                to_json(&response)
            }
            Incoming::WebSocket(request) => to_json(&routes::handle(deps, *request).await?),
            Incoming::EventBridge(event) => to_json(&fanout::handle_event(deps, *event).await?),
            Incoming::Sqs(batch) => to_json(&fanout::handle_sqs(deps, *batch).await),
            Incoming::PushBatch(batch) => to_json(&fanout::handle_push_batches(deps, *batch).await),
            Incoming::TestToken(request) => {
                if !deps.test_tokens_enabled {
                    return Err(HandlerError::TestTokensDisabled);
                }
                let token = deps
                    .tokens()?
                    .mint(&request, now())
                    .map_err(HandlerError::Minting)?;
                to_json(&TestTokenResponse {
                    auth_token: token.clone(),
                    token,
                })
            }
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, HandlerError> {
    serde_json::to_value(value)
        .map_err(|e| HandlerError::InvalidEvent(format!("response does not serialize: {e}")))
}
