//! The one entry point: an event in any supported shape in, the Lambda response out.
//!
//! [`Runtime::handle`] is what the Lambda binary registers with `lambda_runtime` and what the
//! local gateway calls in-process with the very events API Gateway and EventBridge would send.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::auth::{self, TokenKeys};
use crate::config::PushSettings;
use crate::error::HandlerError;
use crate::event::{classify, Incoming};
use crate::push::Pusher;
use crate::store::ConnectionStore;
use crate::{fanout, routes};

/// What the handlers run on, built once per cold start.
pub struct Deps {
    pub store: Arc<dyn ConnectionStore>,
    /// Absent on functions that never push (the authorizer, CreateTestJwt).
    pub pusher: Option<Arc<dyn Pusher>>,
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
}

impl Runtime {
    pub fn new(deps: Deps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Handles one event of any supported shape.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        let incoming =
            classify(event).inspect_err(|e| tracing::warn!(error = %e, "refused event"))?;
        let kind = incoming.kind();
        let result = self.dispatch(incoming).await;
        if let Err(e) = &result {
            tracing::warn!(event_kind = kind, error = %e, permanent = e.is_permanent(), "event failed");
        }
        result
    }

    async fn dispatch(&self, incoming: Incoming) -> Result<Value, HandlerError> {
        let deps = &*self.deps;
        match incoming {
            Incoming::Authorizer(request) => {
                let response = auth::authorize(&request, deps.tokens()?, now())?;
                to_json(&response)
            }
            Incoming::WebSocket(request) => to_json(&routes::handle(deps, *request).await?),
            Incoming::EventBridge(event) => to_json(&fanout::handle_event(deps, *event).await?),
            Incoming::Sqs(batch) => to_json(&fanout::handle_sqs(deps, *batch).await),
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

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, HandlerError> {
    serde_json::to_value(value)
        .map_err(|e| HandlerError::InvalidEvent(format!("response does not serialize: {e}")))
}
