//! `/_gateway/…`: what the local gateway can show that AWS keeps to itself.
//!
//! Not AWS APIs, and kept under their own prefix so nobody mistakes them for something that
//! exists in the cloud:
//! - `GET /_gateway/connections`: the open connections and the entity ids each is subscribed
//!   to. Clients never learn their own connection id, so end-to-end tests that drive
//!   `@connections` from outside, as a backend would, need some way to find one; the console
//!   shows which connection holds which subscription. Each also shows its client buffer: the
//!   bytes waiting to be written and the replies dropped because it was full.
//! - `GET /_gateway/functions`: each function's invocations, errors, throttles and peak
//!   concurrency.
//! - `GET /_gateway/queues`: each queue's (the event queues' and the push queue's) URL, ARN,
//!   dead-letter queue URL, depth and counts.
//! - `GET /_gateway/store`: the embedded store's record counts (leak checks).
//! - `GET /_gateway/dead-letters` and `POST /_gateway/dead-letters/redrive`: events whose
//!   delivery failed on every receive, or that the events function refused for what they are,
//!   each with why (`lastError`, and the `errorCode` the events function sent), kept rather
//!   than dropped, and put back on their queue.
//! - `/_gateway/virtual-connections`: connection ids with no socket
//!   ([`crate::virtual_connections`]), so a measurement can reach a million subscribers.
//!   `POST` `{"entityId", "count"}` registers `count` of them, each subscribed to the entity
//!   in the store, and answers `{"registered", "ids": [first, last]}`; `GET` answers what they
//!   received (`registered`, `delivered`, `missing`, `repeated`, `received`);
//!   `POST …/reset` zeroes the counts; `DELETE` removes them all with their subscriptions
//!   (on DynamoDB a few requests per id: at 10^5, a fresh table is quicker).

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::registry::{BufferUse, ConnectionInfo};
use crate::state::AppState;
use crate::virtual_connections::{self, Invalid};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_gateway/connections", get(connections))
        .route("/_gateway/functions", get(functions))
        .route("/_gateway/queues", get(queues))
        .route("/_gateway/store", get(store))
        .route("/_gateway/dead-letters", get(dead_letters))
        .route("/_gateway/dead-letters/redrive", post(redrive))
        .route(
            "/_gateway/virtual-connections",
            get(virtual_summary)
                .post(register_virtual)
                .delete(remove_virtual),
        )
        .route("/_gateway/virtual-connections/reset", post(reset_virtual))
}

/// Each open connection with its entity ids, read from the store the runtime writes (the
/// embedded store or DynamoDB), so the listing shows what fan-out will actually find.
async fn connections(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
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
        let buffer = registry.usage(&info.connection_id);
        connections.push(describe(&info, buffer, subscriptions));
    }
    Ok(Json(
        json!({"stage": state.config().stage, "connections": connections}),
    ))
}

fn describe(info: &ConnectionInfo, buffer: Option<BufferUse>, subscriptions: Vec<String>) -> Value {
    json!({
        "connectionId": info.connection_id,
        "connectedAt": info.connected_at_ms,
        "sourceIp": info.source_ip,
        "authorizer": info.authorizer,
        "subscriptions": subscriptions,
        "queuedBytes": buffer.map(|b| b.queued_bytes),
        "repliesDropped": buffer.map(|b| b.replies_dropped),
    })
}

async fn functions(State(state): State<AppState>) -> Json<Value> {
    let stats: Vec<_> = state.functions().all().iter().map(|f| f.stats()).collect();
    Json(json!({ "functions": stats }))
}

async fn queues(State(state): State<AppState>) -> Json<Value> {
    let queues: Vec<Value> = state
        .queues()
        .all()
        .iter()
        .map(|q| {
            json!({
                "name": q.name(),
                "url": q.url(&state.base_url()),
                "arn": q.arn(),
                "deadLetterQueueUrl": q.dead_letter_url(&state.base_url()),
                "messages": q.depth(),
                "deadLetters": q.dead_depth(),
                "counts": q.counts(),
            })
        })
        .collect();
    Json(json!({ "queues": queues }))
}

/// Record counts of the embedded store (`null` for DynamoDB: count it with a Scan).
async fn store(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "census": state.runtime().deps().store.census() }))
}

async fn dead_letters(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "messages": state.queues().dead_letters() }))
}

async fn redrive(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "redriven": state.queues().redrive() }))
}

/// Registers `count` virtual connections subscribed to `entityId`: their subscriptions are
/// written first, so the ids answer `@connections` only once a fan-out can find them. When a
/// write fails the ids stay unregistered; subscriptions already written point at ids that
/// answer 410, which the fan-out cleans up as it does any gone connection's.
async fn register_virtual(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, GatewayError> {
    let (entity_id, count) = registration_request(&body)?;
    let connections = state.virtual_connections();
    let registration = connections
        .reserve(&entity_id, count)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let now = chrono::Utc::now();
    let ttl = i64::try_from(state.config().record_ttl.as_secs()).unwrap_or(i64::MAX);
    let store = &state.runtime().deps().store;
    virtual_connections::seed(
        store.as_ref(),
        &registration,
        now.timestamp().saturating_add(ttl),
    )
    .await
    .map_err(|e| {
        GatewayError::Internal(format!(
            "subscribing virtual connections to {entity_id}: {e}"
        ))
    })?;
    let (first, last) = registration.first_and_last();
    let registered = registration.len();
    connections.insert(registration, now.timestamp_millis());
    Ok(Json(
        json!({"registered": registered, "ids": [first, last]}),
    ))
}

/// `{"entityId": "...", "count": N}`, or a 400 that says what is wrong with it.
fn registration_request(body: &[u8]) -> Result<(String, u64), GatewayError> {
    let bad = |e: &dyn std::fmt::Display| GatewayError::BadRequest(e.to_string());
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        bad(&format!(
            "the body must be JSON {{\"entityId\": \"...\", \"count\": N}}: {e}"
        ))
    })?;
    let entity_id = request["entityId"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad(&Invalid::MissingEntityId))?;
    let count = request["count"]
        .as_u64()
        .ok_or_else(|| bad(&Invalid::Count(request["count"].to_string())))?;
    Ok((entity_id.to_string(), count))
}

async fn virtual_summary(State(state): State<AppState>) -> Json<Value> {
    Json(json!(state.virtual_connections().summary()))
}

async fn reset_virtual(State(state): State<AppState>) -> Json<Value> {
    let connections = state.virtual_connections();
    connections.reset();
    Json(json!(connections.summary()))
}

/// Removes every virtual connection, then their subscriptions from the store; answers once
/// the store holds none of them.
async fn remove_virtual(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    let blocks = state.virtual_connections().remove_all();
    let store = &state.runtime().deps().store;
    let removed = virtual_connections::unsubscribe(store.as_ref(), &blocks)
        .await
        .map_err(|e| {
            GatewayError::Internal(format!("removing virtual connections' subscriptions: {e}"))
        })?;
    Ok(Json(json!({ "removed": removed })))
}
