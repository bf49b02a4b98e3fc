//! The events API Gateway sends to the functions: the REQUEST authorizer's, and the WebSocket
//! proxy events of `$connect`, each message, and `$disconnect`.
//!
//! Built field by field as AWS documents them (the fixtures in `runtime/tests/fixtures/` are
//! AWS's documented shapes, and a test checks every field of theirs is sent here too), with the
//! `aws_lambda_events` types the runtime parses.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayRequestAuthorizer,
    ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use serde_json::{Map, Value};
use wspush_contract::routes;

use crate::client::{Body, Handshake};
use crate::config::GatewayConfig;
use crate::ids::{now_ms, request_id, request_time};
use crate::registry::ConnectionInfo;

/// The handshake's headers as a map; a repeated name keeps every value (the single-value view
/// then reads the last, as API Gateway's `headers` does).
fn header_map(handshake: &Handshake) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &handshake.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn query_map(handshake: &Handshake) -> QueryMap {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in &handshake.query {
        map.entry(name.clone()).or_default().push(value.clone());
    }
    QueryMap::from(map)
}

/// The request context fields every WebSocket event carries.
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
    fn websocket(&self) -> ApiGatewayWebsocketProxyRequestContext {
        let now = now_ms();
        let mut context = ApiGatewayWebsocketProxyRequestContext::default();
        context.route_key = Some(self.route_key.to_string());
        context.event_type = Some(self.event_type.to_string());
        context.extended_request_id = Some(request_id());
        context.request_time = Some(request_time(now));
        context.message_direction = Some("IN".into());
        context.stage = Some(self.config.stage.clone());
        context.connected_at = self.connected_at_ms;
        context.request_time_epoch = now;
        context.identity.source_ip = Some(self.source_ip.to_string());
        context.identity.user_agent = self.user_agent.map(str::to_string);
        context.request_id = Some(request_id());
        context.domain_name = Some(self.domain_name.to_string());
        context.connection_id = Some(self.connection_id.to_string());
        context.apiid = Some(self.config.api_id.clone());
        context
    }

    /// The authorizer's request context: the same fields, as JSON (its type in
    /// `aws_lambda_events` is REST's, so the WebSocket fields travel in its catch-all).
    fn authorizer(&self) -> Map<String, Value> {
        match serde_json::to_value(self.websocket()) {
            Ok(Value::Object(mut map)) => {
                // A `$connect` context has no authorizer yet.
                map.remove("authorizer");
                map
            }
            _ => Map::new(),
        }
    }
}

fn handshake_context<'a>(config: &'a GatewayConfig, handshake: &'a Handshake) -> Context<'a> {
    Context {
        config,
        route_key: routes::CONNECT,
        event_type: "CONNECT",
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

fn to_json<T: serde::Serialize>(event: &T) -> Value {
    // These types serialize infallibly (maps with string keys, strings, numbers).
    serde_json::to_value(event).unwrap_or(Value::Null)
}

/// The REQUEST authorizer event for `$connect`.
pub fn authorizer_event(config: &GatewayConfig, handshake: &Handshake) -> Value {
    let mut event = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
    event.type_ = Some("REQUEST".into());
    event.method_arn = Some(config.method_arn(routes::CONNECT));
    event.headers = header_map(handshake);
    event.multi_value_headers = header_map(handshake);
    event.query_string_parameters = query_map(handshake);
    event.multi_value_query_string_parameters = query_map(handshake);
    let mut json = to_json(&event);
    // The REST context type lacks the WebSocket fields; send AWS's WebSocket context whole.
    json["requestContext"] = Value::Object(handshake_context(config, handshake).authorizer());
    json
}

fn authorizer_of(context: &Map<String, Value>) -> ApiGatewayRequestAuthorizer {
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.fields = context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    authorizer
}

/// The `$connect` route event, carrying what the authorizer returned.
pub fn connect_event(
    config: &GatewayConfig,
    handshake: &Handshake,
    authorizer: &Map<String, Value>,
) -> Value {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.headers = header_map(handshake);
    event.multi_value_headers = header_map(handshake);
    event.query_string_parameters = query_map(handshake);
    event.multi_value_query_string_parameters = query_map(handshake);
    event.request_context = handshake_context(config, handshake).websocket();
    event.request_context.authorizer = authorizer_of(authorizer);
    event.is_base64_encoded = false;
    to_json(&event)
}

/// A `MESSAGE` event for one client frame.
pub fn message_event(
    config: &GatewayConfig,
    info: &ConnectionInfo,
    domain_name: &str,
    route_key: &str,
    body: &Body,
) -> Value {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context =
        connection_context(config, info, route_key, "MESSAGE", domain_name).websocket();
    event.request_context.message_id = Some(request_id());
    event.request_context.authorizer = authorizer_of(&info.authorizer);
    let (text, encoded) = match body {
        Body::Text(text) => (text.clone(), false),
        Body::Binary(bytes) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            true,
        ),
    };
    event.body = Some(text);
    event.is_base64_encoded = encoded;
    to_json(&event)
}

/// The `$disconnect` event, with the close code and reason API Gateway reports.
pub fn disconnect_event(
    config: &GatewayConfig,
    info: &ConnectionInfo,
    domain_name: &str,
    status_code: u16,
    reason: &str,
) -> Value {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    let mut headers = HeaderMap::new();
    if let Ok(host) = HeaderValue::from_str(domain_name) {
        headers.insert(aws_lambda_events::http::header::HOST, host);
    }
    event.headers = headers.clone();
    event.multi_value_headers = headers;
    event.request_context =
        connection_context(config, info, routes::DISCONNECT, "DISCONNECT", domain_name).websocket();
    event.request_context.disconnect_status_code = Some(i64::from(status_code));
    event.request_context.disconnect_reason = Some(reason.to_string());
    event.request_context.authorizer = authorizer_of(&info.authorizer);
    event.is_base64_encoded = false;
    to_json(&event)
}
