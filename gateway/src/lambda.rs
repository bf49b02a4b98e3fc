//! Lambda `Invoke` for the one function a client calls directly: `CreateTestJwt`.
//!
//! The function serves only test-token requests, as deployed (`EVENT_KINDS`): any other event
//! shape invoked on it is refused with a function error, never handled. Its concurrency limit
//! applies: a busy function answers 429 `TooManyRequestsException`.
//!
//! `aws lambda invoke --function-name CreateTestJwt response.json` must work here as it does
//! after a deploy, so this is the real path (`/2015-03-31/functions/{name}/invocations`) and
//! the real answers: 200 with the function's JSON; a function error as 200 with
//! `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}`; an unknown function as
//! 404 `ResourceNotFoundException`; a payload that is not JSON as 400
//! `InvalidRequestContentException`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use wspush_contract::defaults::TEST_TOKEN_FUNCTION;

use crate::error::GatewayError;
use crate::functions::InvokeError;
use crate::state::AppState;

/// Lambda's limit on a synchronous invocation's payload: 6 MB.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/2015-03-31/functions/{function_name}/invocations",
            post(invoke),
        )
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
}

/// Whether `name` designates CreateTestJwt: its name, its ARN, or either with a qualifier
/// (`:$LATEST`, a version or an alias).
fn is_test_token_function(name: &str) -> bool {
    let unqualified = match name.strip_prefix("arn:") {
        Some(arn) => arn.split(':').nth(5).unwrap_or(""),
        None => name.split(':').next().unwrap_or(""),
    };
    unqualified == TEST_TOKEN_FUNCTION
}

async fn invoke(
    State(state): State<AppState>,
    Path(function_name): Path<String>,
    headers: HeaderMap,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Response, GatewayError> {
    let payload = payload.map_err(|_| GatewayError::RequestTooLarge(MAX_PAYLOAD_BYTES))?;
    if !is_test_token_function(&function_name) {
        let arn = if function_name.starts_with("arn:") {
            function_name
        } else {
            state.config().function_arn(&function_name)
        };
        return Err(GatewayError::FunctionNotFound(arn));
    }
    // An empty payload arrives at the function as `{}`.
    let event: Value = if payload.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&payload)
            .map_err(|e| GatewayError::InvalidRequestContent(e.to_string()))?
    };
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    match invocation_type {
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        "Event" => {
            let state = state.clone();
            tokio::spawn(async move { state.functions().test_token.invoke_when_free(event).await });
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        _ => {}
    }
    let mut response = match state.functions().test_token.invoke(event).await {
        Ok(answer) => Json(answer).into_response(),
        Err(InvokeError::Throttled) => return Err(GatewayError::TooManyRequests),
        Err(InvokeError::Function(e)) => {
            let diagnostic = lambda_error(e);
            let mut response = Json(diagnostic).into_response();
            response.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            response
        }
    };
    response.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    Ok(response)
}

/// The body Lambda returns for a function error: the runtime's own diagnostic, exactly what
/// `lambda_runtime` would report for it.
fn lambda_error(error: wspush_runtime::HandlerError) -> Value {
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    json!({"errorType": diagnostic.error_type, "errorMessage": diagnostic.error_message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_qualifiers_designate_the_function() {
        assert!(is_test_token_function("CreateTestJwt"));
        assert!(is_test_token_function("CreateTestJwt:$LATEST"));
        assert!(is_test_token_function(
            "arn:aws:lambda:us-east-1:000000000000:function:CreateTestJwt"
        ));
        assert!(is_test_token_function(
            "arn:aws:lambda:us-east-1:000000000000:function:CreateTestJwt:1"
        ));
        assert!(!is_test_token_function("Other"));
        assert!(!is_test_token_function(
            "arn:aws:lambda:us-east-1:000000000000:function:Other"
        ));
    }
}
