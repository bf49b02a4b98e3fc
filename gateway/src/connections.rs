//! The `@connections` management API: `POST` a frame, `GET` the facts, `DELETE` the socket.
//!
//! This is the push path. The runtime reaches it with its ordinary
//! `aws-sdk-apigatewaymanagement` client, pointed at this server instead of
//! `https://{api}.execute-api.{region}.amazonaws.com/{stage}`, so the fan-out, its retries and
//! its handling of 410 Gone are exercised exactly as in AWS. Requests are SigV4-signed by the
//! SDK; the gateway does not check signatures (it listens on 127.0.0.1 only).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::apigw::Body;
use crate::error::GatewayError;
use crate::registry::{Gone, Outbound};
use crate::websocket::to_message;
use crate::AppState;

/// Both the stage-less path and `/{stage}/@connections/{id}`, which the SDK uses when its
/// endpoint ends in the stage.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/@connections/{connection_id}",
            get(get_connection).post(post).delete(delete),
        )
        .route(
            "/{stage}/@connections/{connection_id}",
            get(staged_get).post(staged_post).delete(staged_delete),
        )
}

fn check_stage(state: &AppState, stage: &str) -> Result<(), GatewayError> {
    if stage == state.config().stage {
        Ok(())
    } else {
        Err(GatewayError::Forbidden)
    }
}

fn gone(connection_id: &str) -> impl FnOnce(Gone) -> GatewayError + '_ {
    move |Gone| GatewayError::Gone(connection_id.to_string())
}

/// PostToConnection: the body becomes one frame, text when it is UTF-8.
async fn post(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, GatewayError> {
    let limit = state.config().limits.max_message_bytes;
    if body.len() > limit {
        return Err(GatewayError::PayloadTooLarge {
            size: body.len(),
            limit,
        });
    }
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    state
        .registry()
        .send(&connection_id, Outbound::Frame(to_message(frame)))
        .map_err(gone(&connection_id))?;
    Ok(StatusCode::OK)
}

/// GetConnection: `connectedAt`, `lastActiveAt` (ISO 8601) and the caller's identity.
async fn get_connection(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
) -> Result<Response, GatewayError> {
    let info = state
        .registry()
        .info(&connection_id)
        .ok_or_else(|| GatewayError::Gone(connection_id.clone()))?;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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

/// DeleteConnection: the socket closes and runs `$disconnect`; the id is gone at once.
async fn delete(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    state
        .registry()
        .close(&connection_id, 1000, "Connection deleted")
        .map_err(gone(&connection_id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn staged_post(
    state: State<AppState>,
    Path((stage, connection_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, GatewayError> {
    check_stage(&state, &stage)?;
    post(state, Path(connection_id), body).await
}

async fn staged_get(
    state: State<AppState>,
    Path((stage, connection_id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    check_stage(&state, &stage)?;
    get_connection(state, Path(connection_id)).await
}

async fn staged_delete(
    state: State<AppState>,
    Path((stage, connection_id)): Path<(String, String)>,
) -> Result<StatusCode, GatewayError> {
    check_stage(&state, &stage)?;
    delete(state, Path(connection_id)).await
}
