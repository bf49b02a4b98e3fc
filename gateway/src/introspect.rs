//! `GET /_gateway/connections`: the open connections, for tests and curious developers.
//!
//! Not an AWS API (API Gateway cannot list connections): clients never learn their own
//! connection id, so end-to-end tests that drive `@connections` from outside, as a backend
//! would, need some way to find one. Kept under its own `/_gateway` prefix so that nobody
//! mistakes it for something that exists in the cloud.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/_gateway/connections", get(list))
}

async fn list(State(state): State<AppState>) -> Json<Value> {
    let registry = state.registry();
    let connections: Vec<Value> = registry
        .ids()
        .into_iter()
        .filter_map(|id| registry.info(&id))
        .map(|info| {
            json!({
                "connectionId": info.connection_id,
                "connectedAt": info.connected_at_ms,
                "sourceIp": info.source_ip,
                "authorizer": info.authorizer,
            })
        })
        .collect();
    Json(json!({"stage": state.config().stage, "connections": connections}))
}
