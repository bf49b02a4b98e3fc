//! Reading the functions' answers as API Gateway reads them.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::http::header::SEC_WEBSOCKET_PROTOCOL;
use base64::Engine;
use serde_json::{Map, Value};
use wspush_contract::limits::MAX_AUTHORIZER_RESULT_BYTES;

use super::iam::allows_invoke;
use crate::client::Body;
use crate::error::GatewayError;
use crate::functions::InvokeError;

/// Reads the authorizer's answer as API Gateway does: `Unauthorized` → 401; any other error,
/// a throttled invocation or a malformed answer → 500; a policy that does not allow
/// `execute-api:Invoke` on the method ARN → 403. Allowed: the context for the routes,
/// `principalId` and the context's entries side by side.
pub fn authorizer_decision(
    result: Result<Value, InvokeError>,
    method_arn: &str,
) -> Result<Map<String, Value>, GatewayError> {
    let answer = match result {
        Ok(answer) => answer,
        // The runtime has logged why (as the deployed authorizer logs it).
        Err(InvokeError::Function(wspush_runtime::HandlerError::Unauthorized(_))) => {
            return Err(GatewayError::Unauthorized);
        }
        Err(other) => {
            return Err(GatewayError::Internal(format!(
                "authorizer failed: {other}"
            )))
        }
    };
    let size = serde_json::to_vec(&answer).map_or(usize::MAX, |v| v.len());
    if size > MAX_AUTHORIZER_RESULT_BYTES {
        return Err(GatewayError::Internal(format!(
            "authorizer result is {size} bytes, over API Gateway's {MAX_AUTHORIZER_RESULT_BYTES}"
        )));
    }
    let answer: ApiGatewayCustomAuthorizerResponse<Value> = serde_json::from_value(answer)
        .map_err(|e| GatewayError::Internal(format!("authorizer answer is malformed: {e}")))?;
    let principal = answer
        .principal_id
        .filter(|p| !p.is_empty())
        .ok_or_else(|| GatewayError::Internal("authorizer answer has no principalId".into()))?;
    if !allows_invoke(&answer.policy_document.statement, method_arn) {
        tracing::info!(%method_arn, "authorizer policy does not allow $connect");
        return Err(GatewayError::Forbidden);
    }
    let mut authorizer = Map::new();
    authorizer.insert("principalId".into(), Value::String(principal));
    match answer.context {
        Value::Null => {}
        Value::Object(context) => {
            for (key, value) in context {
                if value.is_object() || value.is_array() {
                    return Err(GatewayError::Internal(format!(
                        "authorizer context value {key:?} is not a string, number or boolean"
                    )));
                }
                authorizer.insert(key, value);
            }
        }
        _ => {
            return Err(GatewayError::Internal(
                "authorizer context is not an object".into(),
            ))
        }
    }
    Ok(authorizer)
}

/// A route's answer: status, the frame to send back when it has a body, and the subprotocol
/// `$connect` selected (its `Sec-WebSocket-Protocol` header).
#[derive(Debug, PartialEq)]
pub struct RouteResponse {
    pub status: u16,
    pub body: Option<Body>,
    pub subprotocol: Option<String>,
}

/// Reads a Lambda proxy answer. An answer that is not a proxy response (a plain value) counts
/// as 200 without a body, as API Gateway treats a WebSocket integration's plain answer.
pub fn route_response(answer: Value) -> RouteResponse {
    let Ok(answer) = serde_json::from_value::<ApiGatewayProxyResponse>(answer) else {
        return RouteResponse {
            status: 200,
            body: None,
            subprotocol: None,
        };
    };
    let status = u16::try_from(answer.status_code)
        .ok()
        .filter(|s| (100..600).contains(s))
        .unwrap_or(200);
    let subprotocol = answer
        .headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .or_else(|| answer.multi_value_headers.get(SEC_WEBSOCKET_PROTOCOL))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let body = match answer.body {
        None => None,
        Some(LambdaBody::Empty) => None,
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .map(Body::Binary)
        }
        Some(LambdaBody::Text(text)) => Some(Body::Text(text)),
        Some(LambdaBody::Binary(bytes)) => Some(Body::Binary(bytes)),
        // A body kind this version of the event types does not know: nothing to forward.
        Some(_) => None,
    };
    RouteResponse {
        status,
        body,
        subprotocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(effect: &str, resource: &str) -> Result<Value, InvokeError> {
        Ok(json!({
            "principalId": "u1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": ["execute-api:Invoke"], "Effect": effect, "Resource": [resource]}
            ]},
            "context": {"userId": "u1"}
        }))
    }

    #[test]
    fn policies_are_enforced() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:local/production/$connect";
        let allowed = authorizer_decision(answer("Allow", arn), arn).expect("allowed");
        assert_eq!(allowed.get("userId"), Some(&json!("u1")));
        assert_eq!(allowed.get("principalId"), Some(&json!("u1")));
        assert!(matches!(
            authorizer_decision(answer("Deny", arn), arn),
            Err(GatewayError::Forbidden)
        ));
        assert!(matches!(
            authorizer_decision(answer("Allow", "arn:other"), arn),
            Err(GatewayError::Forbidden)
        ));
        assert!(matches!(
            authorizer_decision(Ok(json!({})), arn),
            Err(GatewayError::Internal(_))
        ));
        assert!(matches!(
            authorizer_decision(Err(InvokeError::Throttled), arn),
            Err(GatewayError::Internal(_))
        ));
        // API Gateway's 8 KB limit on the authorizer's result.
        let mut big = answer("Allow", arn).expect("answer");
        big["context"]["padding"] = json!("x".repeat(8 * 1024));
        assert!(matches!(
            authorizer_decision(Ok(big), arn),
            Err(GatewayError::Internal(_))
        ));
    }

    #[test]
    fn route_responses_become_frames_and_subprotocols() {
        let r = route_response(json!({"statusCode": 200, "body": "{\"type\":\"Pong\"}"}));
        assert_eq!(r.status, 200);
        assert!(matches!(r.body, Some(Body::Text(t)) if t == r#"{"type":"Pong"}"#));
        assert_eq!(r.subprotocol, None);
        assert_eq!(route_response(json!({"statusCode": 401})).status, 401);
        let r = route_response(json!({
            "statusCode": 200,
            "headers": {"Sec-WebSocket-Protocol": "websocket"}
        }));
        assert_eq!(r.subprotocol.as_deref(), Some("websocket"));
        assert_eq!(route_response(json!("plain")).status, 200);
    }
}
