//! The `$connect` REQUEST authorizer: token in, IAM policy out.
//!
//! API Gateway calls the authorizer before it accepts a WebSocket upgrade. The token may come in
//! the query string (`?access_token=`) or as the second value of `Sec-WebSocket-Protocol`
//! (`websocket, <token>`), because browsers cannot set any other header on a WebSocket.
//! A refusal is the Lambda error `Unauthorized`, which API Gateway turns into HTTP 401.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde::{Deserialize, Serialize};
use wspush_contract::limits::MAX_AUTHORIZER_CONTEXT_BYTES;

use super::token::{Identity, TokenError, TokenKeys};

/// The context the authorizer hands to the `$connect` route. String values only, as API
/// Gateway requires for WebSocket APIs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthContext {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// A refused `$connect`. The reason is logged; the client sees only 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Unauthorized")]
pub struct Unauthorized(pub TokenError);

/// Finds the token: the query string first (the quick start's recommended place), then the
/// second value of `Sec-WebSocket-Protocol`.
pub fn token_from_request(
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Option<String> {
    if let Some(token) = request.query_string_parameters.first("access_token") {
        if !token.trim().is_empty() {
            return Some(token.trim().to_string());
        }
    }
    let protocols = request.headers.get_all("sec-websocket-protocol");
    protocols
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|p| !p.is_empty() && !p.eq_ignore_ascii_case("websocket"))
        .map(str::to_string)
}

/// Decides a `$connect`: allow with the caller's identity as context, or refuse.
pub fn authorize(
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    keys: &TokenKeys,
    now: i64,
) -> Result<ApiGatewayCustomAuthorizerResponse<AuthContext>, Unauthorized> {
    // Without the method ARN there is nothing to allow; never fall back to a wildcard.
    let method_arn = request
        .method_arn
        .clone()
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| Unauthorized(TokenError::Malformed("request has no methodArn".into())))?;
    let token = token_from_request(request).ok_or(Unauthorized(TokenError::Missing))?;
    // `verify` applies the one definition of a valid user id (`token::check_user_id`).
    let identity = keys.verify(&token, now).map_err(Unauthorized)?;
    let mut response = ApiGatewayCustomAuthorizerResponse::<AuthContext>::default();
    response.principal_id = Some(identity.user_id.clone());
    response.policy_document = allow_invoke(method_arn);
    response.context = context_of(identity);
    Ok(response)
}

fn allow_invoke(method_arn: String) -> ApiGatewayCustomAuthorizerPolicy {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_string()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![method_arn];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_string());
    policy.statement = vec![statement];
    policy
}

/// Builds the context, dropping optional names if the whole would exceed API Gateway's limit.
fn context_of(identity: Identity) -> AuthContext {
    let full = AuthContext {
        user_id: identity.user_id,
        first_name: identity.first_name,
        last_name: identity.last_name,
        sub: identity.sub,
    };
    let size = |c: &AuthContext| serde_json::to_vec(c).map(|v| v.len()).unwrap_or(usize::MAX);
    if size(&full) < MAX_AUTHORIZER_CONTEXT_BYTES {
        return full;
    }
    AuthContext {
        user_id: full.user_id,
        ..AuthContext::default()
    }
}
