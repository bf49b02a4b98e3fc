//! The `$connect` REQUEST authorizer: token in, IAM policy out.
//!
//! API Gateway calls the authorizer before it accepts a WebSocket upgrade. The token may come in
//! the query string (`?access_token=`) or as the second value of `Sec-WebSocket-Protocol`
//! (`websocket, <token>`), because browsers cannot set any other header on a WebSocket.
//! A refusal is the Lambda error `Unauthorized`, which API Gateway turns into HTTP 401.
//!
//! The context it returns reaches every route of the connection: the user id, the token's
//! `exp` (a connection ends with its token) and the claims the subscribe policy reads.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use serde_json::{Map, Value};
use wspush_contract::limits::{MAX_AUTHORIZER_CONTEXT_BYTES, MAX_AUTHORIZER_RESULT_BYTES};

use super::token::{Identity, TokenError, TokenKeys};

/// The context the authorizer hands to every route. String values only, as API Gateway
/// requires for WebSocket APIs; key names from `wspush_contract::authorizer_context`.
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
    /// The token's `exp` in whole seconds, as text.
    pub token_expires_at: String,
    /// The claims the subscribe policy and hook read, as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
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
/// `needed_claims` are the claim paths the subscribe policy reads (`access::SubscribePolicy::
/// claim_paths`): passed on even when the token's claims are too many to pass them all.
pub async fn authorize(
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    keys: &TokenKeys,
    needed_claims: &BTreeSet<&str>,
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
    let identity = keys.verify(&token, now).await.map_err(Unauthorized)?;
    let mut response = ApiGatewayCustomAuthorizerResponse::<AuthContext>::default();
    response.principal_id = Some(identity.user_id.clone());
    response.policy_document = allow_invoke(method_arn);
    for context in contexts(identity, needed_claims) {
        response.context = context;
        if fits(&response) {
            return Ok(response);
        }
    }
    Err(Unauthorized(TokenError::ClaimsTooLarge))
}

/// Whether API Gateway takes `response`: its context under the context limit, and the whole
/// result under the result limit.
fn fits(response: &ApiGatewayCustomAuthorizerResponse<AuthContext>) -> bool {
    fn size(value: &impl Serialize) -> usize {
        serde_json::to_vec(value).map_or(usize::MAX, |json| json.len())
    }
    size(&response.context) < MAX_AUTHORIZER_CONTEXT_BYTES
        && size(response) < MAX_AUTHORIZER_RESULT_BYTES
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

/// The contexts to try, largest first: every claim; the claims the policy names; those
/// without the display names. A token whose needed claims fit none is refused rather than
/// decided on without them.
fn contexts(identity: Identity, needed: &BTreeSet<&str>) -> [AuthContext; 3] {
    let full = AuthContext {
        claims: serde_json::to_string(identity.claims.as_map()).ok(),
        token_expires_at: identity.expires_at.to_string(),
        user_id: identity.user_id.clone(),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        sub: identity.sub.clone(),
    };
    let needed = AuthContext {
        claims: Some(needed_claims(&identity, needed)),
        ..full.clone()
    };
    let bare = AuthContext {
        first_name: None,
        last_name: None,
        sub: None,
        ..needed.clone()
    };
    [full, needed, bare]
}

/// The JSON text of the claims at `paths` (by their top-level name) and `sub`.
fn needed_claims(identity: &Identity, paths: &BTreeSet<&str>) -> String {
    let claims = identity.claims.as_map();
    let names = paths
        .iter()
        .copied()
        .map(|path| {
            if claims.contains_key(path) {
                path
            } else {
                path.split('.').next().unwrap_or(path)
            }
        })
        .chain(["sub"]);
    let needed: Map<String, Value> = names
        .filter_map(|name| Some((name.to_string(), claims.get(name)?.clone())))
        .collect();
    Value::Object(needed).to_string()
}
