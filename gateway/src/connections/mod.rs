//! The `@connections` management API: `POST` a message, `GET` the facts, `DELETE` the socket.
//!
//! This is the push path. The runtime reaches it with the push client it is deployed with
//! (signed HTTP requests, or the `aws-sdk-apigatewaymanagement` client), pointed at this server
//! instead of `https://{api}.execute-api.{region}.amazonaws.com/{stage}`, so the fan-out, its
//! retries and its handling of 410 Gone are exercised exactly as in AWS. As on AWS:
//! - 410 `GoneException` for an id that is unknown, closed, or whose `$connect` has not
//!   completed (a connection is reachable only once its upgrade is done);
//! - 413 `PayloadTooLargeException` over 128 KB; a message over 32 KB reaches the client split
//!   into frames of at most 32 KB (one message);
//! - 429 `LimitExceededException` when the client's buffer is full, or (optional, off by
//!   default) when the account throttle's token bucket is empty;
//! - an optional latency per call, with optional jitter, stands in for the network round trip
//!   to AWS;
//! - every call must be SigV4-signed for `execute-api` in the gateway's region by a key the
//!   gateway knows ([`sigv4`]): 403 otherwise, after the stage is matched. The keys are this
//!   API's own, held by its router, since no other API checks signatures.
//!
//! An id no socket holds may be a virtual connection's ([`crate::virtual_connections`]): after
//! the same checks, a POST to it is counted and answered 200, GET answers its facts, DELETE
//! removes it (410 from then on).

pub mod sigv4;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::client::Body;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::registry::Refused;
use crate::state::AppState;
use sigv4::{SignedRequest, SigningKeys};

/// Both the stage-less path and `/{stage}/@connections/{id}`, which the SDK uses when its
/// endpoint ends in the stage. Every call passes the account's limits first.
pub fn router(state: AppState) -> Router<AppState> {
    let guard = Guard {
        callers: Arc::new(SigningKeys::new(state.config().callers.iter().cloned())),
        state,
    };
    Router::new()
        .route(
            "/@connections/{connection_id}",
            get(get_connection).post(post).delete(delete),
        )
        .route(
            "/{stage}/@connections/{connection_id}",
            get(staged_get).post(staged_post).delete(staged_delete),
        )
        .route_layer(middleware::from_fn_with_state(guard, account_limits))
}

/// What the account's limits read: the shared state, and the keys signatures are checked with.
#[derive(Clone)]
struct Guard {
    state: AppState,
    callers: Arc<SigningKeys>,
}

/// The injected latency, the caller's signature, then the account throttle, as every call
/// meets them on AWS.
async fn account_limits(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Guard { state, callers } = &guard;
    let latency = call_latency(state.config());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request = match authorized(state, callers, request).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(bucket) = state.throttle() {
        if !bucket.try_take() {
            return GatewayError::LimitExceeded("Rate exceeded".into()).into_response();
        }
    }
    next.run(request).await
}

/// This call's injected latency: the configured one, varied uniformly by the jitter.
fn call_latency(config: &GatewayConfig) -> std::time::Duration {
    let (latency, jitter) = (config.connections_latency, config.connections_jitter);
    if jitter.is_zero() {
        return latency;
    }
    let spread = jitter.as_secs_f64();
    let offset = rand::Rng::random_range(&mut rand::rng(), -spread..=spread);
    std::time::Duration::from_secs_f64((latency.as_secs_f64() + offset).max(0.0))
}

/// The most of a body the server reads before refusing it unread: axum's default body limit,
/// the one the handlers' `Bytes` extractor applies.
const MAX_READ_BYTES: usize = 2 * 1024 * 1024;

/// The request, once its stage exists, its body is within the message limit and its signature
/// holds. The body is read here (the signature covers its hash) and handed on unchanged.
async fn authorized(
    state: &AppState,
    callers: &SigningKeys,
    request: Request,
) -> Result<Request, GatewayError> {
    // A method `@connections` does not serve is the router's 404, as for any other path.
    if !matches!(
        *request.method(),
        Method::GET | Method::POST | Method::DELETE
    ) {
        return Ok(request);
    }
    let stage = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if stage != "@connections" {
        check_stage(state, stage)?;
    }
    let limit = state.config().limits.max_message_bytes;
    let (parts, body) = request.into_parts();
    // A body past the server's own read limit is over 128 KB too: the same AWS answer.
    let body = axum::body::to_bytes(body, MAX_READ_BYTES)
        .await
        .map_err(|_| GatewayError::PayloadTooLarge {
            size: limit + 1,
            limit,
        })?;
    if body.len() > limit {
        return Err(GatewayError::PayloadTooLarge {
            size: body.len(),
            limit,
        });
    }
    callers.verify(
        &state.config().region,
        chrono::Utc::now(),
        &SignedRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &body,
        },
    )?;
    Ok(Request::from_parts(parts, axum::body::Body::from(body)))
}

fn check_stage(state: &AppState, stage: &str) -> Result<(), GatewayError> {
    if stage == state.config().stage {
        Ok(())
    } else {
        Err(GatewayError::Forbidden)
    }
}

fn refused(connection_id: &str) -> impl FnOnce(Refused) -> GatewayError + '_ {
    move |refusal| match refusal {
        Refused::Gone => GatewayError::Gone(connection_id.to_string()),
        Refused::BufferFull => GatewayError::LimitExceeded(format!(
            "the WebSocket client side buffer of {connection_id} is full"
        )),
    }
}

/// PostToConnection: the body becomes one message, text when it is UTF-8. Its size is
/// checked with the signature ([`authorized`]).
async fn post(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, GatewayError> {
    let limits = &state.config().limits;
    let message = match String::from_utf8(body.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    match state
        .registry()
        .post(&connection_id, message, limits.max_client_buffer_bytes)
    {
        Err(Refused::Gone) if state.virtual_connections().post(&connection_id) => {}
        posted => posted.map_err(refused(&connection_id))?,
    }
    Ok(StatusCode::OK)
}

/// GetConnection: `connectedAt`, `lastActiveAt` (ISO 8601) and the caller's identity.
async fn get_connection(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
) -> Result<Response, GatewayError> {
    let Some(info) = state.registry().info(&connection_id) else {
        return virtual_facts(&state, &connection_id);
    };
    let mut identity = json!({"sourceIp": info.source_ip});
    if let Some(agent) = &info.user_agent {
        identity["userAgent"] = json!(agent);
    }
    Ok(Json(json!({
        "connectedAt": iso(info.connected_at_ms),
        "lastActiveAt": iso(info.last_active_ms()),
        "identity": identity,
    }))
    .into_response())
}

/// A virtual connection's facts: registered by a local call, it was last active then too.
fn virtual_facts(state: &AppState, connection_id: &str) -> Result<Response, GatewayError> {
    let connected_at = state
        .virtual_connections()
        .connected_at_ms(connection_id)
        .ok_or_else(|| GatewayError::Gone(connection_id.to_string()))?;
    Ok(Json(json!({
        "connectedAt": iso(connected_at),
        "lastActiveAt": iso(connected_at),
        "identity": {"sourceIp": "127.0.0.1"},
    }))
    .into_response())
}

/// Milliseconds since the epoch as GetConnection spells times (ISO 8601).
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// DeleteConnection: the socket closes and runs `$disconnect`; the id is gone at once. A
/// virtual connection is gone at once too, and its subscription leaves the store, as
/// `$disconnect` removes a socket's.
async fn delete(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    match state
        .registry()
        .close(&connection_id, 1000, "Connection deleted")
    {
        Err(Refused::Gone) => {
            let entity_id = state
                .virtual_connections()
                .remove(&connection_id)
                .ok_or_else(|| GatewayError::Gone(connection_id.clone()))?;
            let store = &state.runtime().deps().store;
            store
                .delete_subscription(&connection_id, &entity_id)
                .await
                .map_err(|e| {
                    GatewayError::Internal(format!(
                        "removing the subscription of virtual connection {connection_id}: {e}"
                    ))
                })?;
        }
        closed => closed.map_err(refused(&connection_id))?,
    }
    Ok(StatusCode::NO_CONTENT)
}

// The staged paths: [`authorized`] has matched the stage already.

async fn staged_post(
    state: State<AppState>,
    Path((_stage, connection_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, GatewayError> {
    post(state, Path(connection_id), body).await
}

async fn staged_get(
    state: State<AppState>,
    Path((_stage, connection_id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    get_connection(state, Path(connection_id)).await
}

async fn staged_delete(
    state: State<AppState>,
    Path((_stage, connection_id)): Path<(String, String)>,
) -> Result<StatusCode, GatewayError> {
    delete(state, Path(connection_id)).await
}
