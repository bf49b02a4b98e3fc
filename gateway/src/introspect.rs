//! `GET /_gateway/connections`: the open connections and what each is subscribed to, for tests,
//! the console and curious developers.
//!
//! Not an AWS API (API Gateway cannot list connections): clients never learn their own
//! connection id, so end-to-end tests that drive `@connections` from outside, as a backend
//! would, need some way to find one; and the console shows which connection holds which
//! subscription. Kept under its own `/_gateway` prefix so that nobody mistakes it for something
//! that exists in the cloud.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::registry::ConnectionInfo;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/_gateway/connections", get(list))
}

/// Each open connection with its entity ids, read from the store the runtime writes (the
/// embedded store or DynamoDB), so the listing shows what fan-out will actually find.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    let registry = state.registry();
    let store = &state.runtime().deps().store;
    let mut connections = Vec::new();
    for info in registry
        .ids()
        .into_iter()
        .filter_map(|id| registry.info(&id))
    {
        let mut subscriptions = store
            .subscriptions(&info.connection_id)
            .await
            .map_err(|e| {
                GatewayError::Internal(format!(
                    "listing the subscriptions of {}: {e}",
                    info.connection_id
                ))
            })?;
        subscriptions.sort();
        connections.push(describe(&info, subscriptions));
    }
    Ok(Json(
        json!({"stage": state.config().stage, "connections": connections}),
    ))
}

fn describe(info: &ConnectionInfo, subscriptions: Vec<String>) -> Value {
    json!({
        "connectionId": info.connection_id,
        "connectedAt": info.connected_at_ms,
        "sourceIp": info.source_ip,
        "authorizer": info.authorizer,
        "subscriptions": subscriptions,
    })
}
