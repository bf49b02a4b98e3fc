//! `POST /`: the one path of the AWS JSON protocol, shared by the two emulated services that
//! speak it. `X-Amz-Target` names the service and the operation: `AWSEvents.*` is EventBridge
//! (JSON 1.1, [`crate::eventbridge`]), `AmazonSQS.*` is SQS (JSON 1.0, [`crate::sqs`]), as on
//! AWS, where each service has its own host and the target decides alone.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use crate::error::GatewayError;
use crate::eventbridge;
use crate::sqs::{self, SqsApi};
use crate::state::AppState;

/// `POST /`, routed by `X-Amz-Target`; the SQS API holds its signing keys for every request.
pub fn router(state: &AppState) -> Router<AppState> {
    let sqs_api = Arc::new(SqsApi::new(state));
    Router::new().route(
        "/",
        post(move |state: State<AppState>, request: Request| {
            dispatch(state, sqs_api.clone(), request)
        }),
    )
}

async fn dispatch(
    State(state): State<AppState>,
    sqs_api: Arc<SqsApi>,
    request: Request,
) -> Result<Response, GatewayError> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (parts, body) = request.into_parts();
    let body: Result<Bytes, BytesRejection> =
        Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await;
    if target.starts_with(sqs::TARGET_PREFIX) {
        return sqs_api.handle(state, parts, body).await;
    }
    eventbridge::json_api(State(state), parts.headers, body).await
}
