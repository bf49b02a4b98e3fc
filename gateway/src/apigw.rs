//! The JSON API Gateway sends to the Lambda function, and how it reads the answers.
//!
//! Why a module of its own: these shapes are the contract with the runtime, which classifies
//! events by their fields ([`wspush_runtime::event::classify`]). Building them in one place,
//! field by field as AWS documents them, keeps the gateway from drifting into a private
//! dialect that only the local runtime would understand (the trouble with serverless-offline).

use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{json, Map, Value};
use wspush_contract::routes;
use wspush_runtime::HandlerError;

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::registry::ConnectionInfo;

/// What API Gateway knows about a `$connect` handshake.
#[derive(Clone, Debug)]
pub struct Handshake {
    pub connection_id: String,
    pub request_id: String,
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub domain_name: String,
    /// Header names lower-cased, in arrival order, repeated names kept.
    pub headers: Vec<(String, String)>,
    /// Query parameters, decoded, repeated names kept.
    pub query: Vec<(String, String)>,
}

impl Handshake {
    /// Reads the headers API Gateway forwards. Values that are not visible ASCII are dropped.
    pub fn headers_from(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_string(), v.to_string()))
            })
            .collect()
    }
}

/// API Gateway's single-value map keeps the last value of a repeated name; the multi-value
/// map keeps them all.
fn single_and_multi(pairs: &[(String, String)]) -> (Value, Value) {
    if pairs.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        single.insert(name.clone(), Value::String(value.clone()));
        match multi.get_mut(name) {
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            _ => {
                multi.insert(name.clone(), json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// `requestTime` in API Gateway's CLF format, e.g. `24/Nov/2025:03:31:00 +0000`.
fn request_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A fresh id in the shape of API Gateway's request ids.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A connection id in API Gateway's form: 11 random bytes in base64, e.g. `R0oXAdfD0kwCH6w=`.
/// Ids can hold `/`, `+` and `=`, so clients must URL-encode them in `@connections` paths,
/// exactly as against AWS.
pub fn connection_id() -> String {
    let bytes: [u8; 11] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

struct Context<'a> {
    config: &'a GatewayConfig,
    route_key: &'a str,
    event_type: &'a str,
    connection_id: &'a str,
    connected_at_ms: i64,
    source_ip: &'a str,
    user_agent: Option<&'a str>,
    domain_name: &'a str,
}

impl Context<'_> {
    fn to_json(&self) -> Map<String, Value> {
        let now = now_ms();
        let mut context = Map::new();
        let mut put = |k: &str, v: Value| {
            context.insert(k.to_string(), v);
        };
        put("routeKey", json!(self.route_key));
        put("eventType", json!(self.event_type));
        put("extendedRequestId", json!(request_id()));
        put("requestTime", json!(request_time(now)));
        put("messageDirection", json!("IN"));
        put("stage", json!(self.config.stage));
        put("connectedAt", json!(self.connected_at_ms));
        put("requestTimeEpoch", json!(now));
        put(
            "identity",
            json!({"sourceIp": self.source_ip, "userAgent": self.user_agent}),
        );
        put("requestId", json!(request_id()));
        put("domainName", json!(self.domain_name));
        put("connectionId", json!(self.connection_id));
        put("apiId", json!(self.config.api_id));
        context
    }
}

fn handshake_context<'a>(
    config: &'a GatewayConfig,
    handshake: &'a Handshake,
    route_key: &'a str,
    event_type: &'a str,
) -> Context<'a> {
    Context {
        config,
        route_key,
        event_type,
        connection_id: &handshake.connection_id,
        connected_at_ms: handshake.connected_at_ms,
        source_ip: &handshake.source_ip,
        user_agent: handshake.user_agent.as_deref(),
        domain_name: &handshake.domain_name,
    }
}

fn connection_context<'a>(
    config: &'a GatewayConfig,
    info: &'a ConnectionInfo,
    route_key: &'a str,
    event_type: &'a str,
    domain_name: &'a str,
) -> Context<'a> {
    Context {
        config,
        route_key,
        event_type,
        connection_id: &info.connection_id,
        connected_at_ms: info.connected_at_ms,
        source_ip: &info.source_ip,
        user_agent: info.user_agent.as_deref(),
        domain_name,
    }
}

/// The REQUEST authorizer event for `$connect`.
pub fn authorizer_event(config: &GatewayConfig, handshake: &Handshake) -> Value {
    let (headers, multi_headers) = single_and_multi(&handshake.headers);
    let (query, multi_query) = single_and_multi(&handshake.query);
    let context = handshake_context(config, handshake, routes::CONNECT, "CONNECT").to_json();
    json!({
        "type": "REQUEST",
        "methodArn": config.method_arn(routes::CONNECT),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": context,
    })
}

/// The `$connect` route event, carrying what the authorizer returned.
pub fn connect_event(
    config: &GatewayConfig,
    handshake: &Handshake,
    authorizer: &Map<String, Value>,
) -> Value {
    let (headers, multi_headers) = single_and_multi(&handshake.headers);
    let (query, multi_query) = single_and_multi(&handshake.query);
    let mut context = handshake_context(config, handshake, routes::CONNECT, "CONNECT").to_json();
    context.insert("authorizer".into(), Value::Object(authorizer.clone()));
    json!({
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": context,
        "isBase64Encoded": false,
    })
}

/// A message frame's body as API Gateway passes it: text as is, binary in base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

/// The route a frame goes to: `$request.body.action` when it names a route, else `$default`.
pub fn select_route(body: &Body) -> &'static str {
    let Body::Text(text) = body else {
        return routes::DEFAULT;
    };
    let action = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string));
    match action.as_deref() {
        Some(action) => routes::ALL
            .into_iter()
            .filter(|route| !route.starts_with('$'))
            .find(|route| *route == action)
            .unwrap_or(routes::DEFAULT),
        None => routes::DEFAULT,
    }
}

/// A `MESSAGE` event for one client frame.
pub fn message_event(
    config: &GatewayConfig,
    info: &ConnectionInfo,
    domain_name: &str,
    route_key: &str,
    body: &Body,
) -> Value {
    let mut context = connection_context(config, info, route_key, "MESSAGE", domain_name).to_json();
    context.insert("messageId".into(), json!(request_id()));
    context.insert("authorizer".into(), Value::Object(info.authorizer.clone()));
    let (body, encoded) = match body {
        Body::Text(text) => (text.clone(), false),
        Body::Binary(bytes) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            true,
        ),
    };
    json!({
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The `$disconnect` event, with the close code and reason API Gateway reports.
pub fn disconnect_event(
    config: &GatewayConfig,
    info: &ConnectionInfo,
    domain_name: &str,
    status_code: u16,
    reason: &str,
) -> Value {
    let mut context =
        connection_context(config, info, routes::DISCONNECT, "DISCONNECT", domain_name).to_json();
    context.insert("disconnectStatusCode".into(), json!(status_code));
    context.insert("disconnectReason".into(), json!(reason));
    context.insert("authorizer".into(), Value::Object(info.authorizer.clone()));
    json!({
        "headers": {"Host": domain_name},
        "multiValueHeaders": {"Host": [domain_name]},
        "requestContext": context,
        "isBase64Encoded": false,
    })
}

/// Reads the authorizer's answer as API Gateway does: `Unauthorized` → 401; any other error
/// or a malformed answer → 500; a policy that does not allow `execute-api:Invoke` on the
/// method ARN → 403. Allowed: the context for the routes, `principalId` and the context's
/// entries side by side.
pub fn authorizer_decision(
    result: Result<Value, HandlerError>,
    method_arn: &str,
) -> Result<Map<String, Value>, GatewayError> {
    let answer = match result {
        Ok(answer) => answer,
        Err(HandlerError::Unauthorized(reason)) => {
            tracing::info!(reason = %reason.0, "authorizer refused $connect");
            return Err(GatewayError::Unauthorized);
        }
        Err(other) => {
            return Err(GatewayError::Internal(format!(
                "authorizer failed: {other}"
            )))
        }
    };
    let principal = answer
        .get("principalId")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| GatewayError::Internal("authorizer answer has no principalId".into()))?;
    let statements = match answer.pointer("/policyDocument/Statement") {
        Some(Value::Array(all)) => all.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => {
            return Err(GatewayError::Internal(
                "authorizer answer has no policyDocument.Statement".into(),
            ))
        }
    };
    let applies = |statement: &Value| {
        let actions = strings(statement.get("Action"));
        let resources = strings(statement.get("Resource"));
        actions.iter().any(|a| glob(a, "execute-api:Invoke"))
            && resources.iter().any(|r| glob(r, method_arn))
    };
    let denied = statements
        .iter()
        .any(|s| effect(s) == Some("Deny") && applies(s));
    let allowed = statements
        .iter()
        .any(|s| effect(s) == Some("Allow") && applies(s));
    if denied || !allowed {
        tracing::info!(%method_arn, "authorizer policy does not allow $connect");
        return Err(GatewayError::Forbidden);
    }
    let mut authorizer = Map::new();
    authorizer.insert("principalId".into(), json!(principal));
    match answer.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(context)) => {
            for (key, value) in context {
                if value.is_object() || value.is_array() {
                    return Err(GatewayError::Internal(format!(
                        "authorizer context value {key:?} is not a string, number or boolean"
                    )));
                }
                authorizer.insert(key.clone(), value.clone());
            }
        }
        Some(_) => {
            return Err(GatewayError::Internal(
                "authorizer context is not an object".into(),
            ))
        }
    }
    Ok(authorizer)
}

fn effect(statement: &Value) -> Option<&str> {
    statement.get("Effect").and_then(Value::as_str)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(all)) => all
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A route's answer: status, and the frame to send back when it has a body.
#[derive(Debug, PartialEq)]
pub struct RouteResponse {
    pub status: u16,
    pub body: Option<Body>,
}

/// Reads a Lambda proxy answer `{statusCode, body, isBase64Encoded}`. An answer without
/// `statusCode` counts as 200, as API Gateway treats a WebSocket integration's plain answer.
pub fn route_response(answer: &Value) -> RouteResponse {
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let encoded = answer
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match answer.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if encoded => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .map(Body::Binary),
        Some(Value::String(text)) => Some(Body::Text(text.clone())),
        Some(other) => Some(Body::Text(other.to_string())),
    };
    RouteResponse { status, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_iam() {
        assert!(glob("*", "arn:aws:execute-api:x"));
        assert!(glob(
            "arn:aws:execute-api:*:*:local/production/*",
            "arn:aws:execute-api:us-east-1:0:local/production/$connect"
        ));
        assert!(glob("execute-api:Inv?ke", "execute-api:Invoke"));
        assert!(!glob("execute-api:Get*", "execute-api:Invoke"));
        assert!(!glob("a", "ab"));
    }

    #[test]
    fn routes_come_from_the_action() {
        let text = |s: &str| Body::Text(s.to_string());
        assert_eq!(
            select_route(&text(r#"{"action":"subscribe"}"#)),
            "subscribe"
        );
        assert_eq!(select_route(&text(r#"{"action":"ping"}"#)), "ping");
        assert_eq!(select_route(&text(r#"{"action":"$connect"}"#)), "$default");
        assert_eq!(select_route(&text(r#"{"action":"dance"}"#)), "$default");
        assert_eq!(select_route(&text("not json")), "$default");
        assert_eq!(select_route(&Body::Binary(vec![1, 2])), "$default");
    }

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let id = connection_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }

    #[test]
    fn policies_are_enforced() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:local/production/$connect";
        let answer = |effect: &str, resource: &str| {
            Ok(json!({
                "principalId": "u1",
                "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Action": ["execute-api:Invoke"], "Effect": effect, "Resource": [resource]}
                ]},
                "context": {"userId": "u1"}
            }))
        };
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
    }

    #[test]
    fn route_responses_become_frames() {
        let r = route_response(&json!({"statusCode": 200, "body": "{\"type\":\"Pong\"}"}));
        assert_eq!(r.status, 200);
        assert!(matches!(r.body, Some(Body::Text(t)) if t == r#"{"type":"Pong"}"#));
        assert_eq!(route_response(&json!({"statusCode": 401})).status, 401);
    }
}
