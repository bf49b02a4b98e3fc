//! Classifying an incoming Lambda event by its shape.
//!
//! Classification reads explicit marker fields instead of trying each type until one parses:
//! a `$connect` authorizer event also carries `requestContext.routeKey`, and nearly every field
//! of the SDK event types has a default, so "first type that parses" would misroute events.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::sqs::SqsEvent;
use serde::de::DeserializeOwned;
use serde_json::Value;

use wspush_contract::push_queue;

use crate::auth::TestTokenRequest;
use crate::error::HandlerError;
use crate::event_kind::EventKind;
use crate::fanout::RawDetailEvent;

/// Every event shape the one binary serves.
#[derive(Debug)]
pub enum Incoming {
    /// The `$connect` REQUEST authorizer (`type: REQUEST` with a `methodArn`).
    Authorizer(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// A WebSocket route invocation (`requestContext.routeKey`).
    WebSocket(Box<ApiGatewayWebsocketProxyRequest>),
    /// An EventBridge event delivered directly (`detail-type` + `source`). Its detail arrives
    /// here parsed into a `Value`, so it holds numbers only as exactly as a `Value` does; the
    /// deployed rules deliver through SQS, whose record bodies keep the detail's text.
    EventBridge(Box<RawDetailEvent>),
    /// SQS records, each holding an EventBridge event (`Records[].eventSource == "aws:sqs"`).
    Sqs(Box<SqsEvent>),
    /// SQS records of the push queue: each marked with the message attribute
    /// `WSPUSH_KIND = push-batch` ([`wspush_contract::push_queue`]), each a push batch.
    PushBatch(Box<SqsEvent>),
    /// A direct invocation asking for a test token: `{}` or overrides of its claims.
    TestToken(TestTokenRequest),
}

impl Incoming {
    pub fn kind(&self) -> EventKind {
        match self {
            Incoming::Authorizer(_) => EventKind::Authorizer,
            Incoming::WebSocket(_) => EventKind::WebSocket,
            Incoming::EventBridge(_) => EventKind::EventBridge,
            Incoming::Sqs(_) => EventKind::Sqs,
            Incoming::PushBatch(_) => EventKind::PushBatch,
            Incoming::TestToken(_) => EventKind::TestToken,
        }
    }
}

fn parse<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, HandlerError> {
    serde_json::from_value(value)
        .map_err(|e| HandlerError::InvalidEvent(format!("{what} event does not parse: {e}")))
}

fn is_sqs(records: &[Value]) -> bool {
    records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
}

/// Whether an SQS record carries the push-batch marker attribute.
fn is_push_batch(record: &Value) -> bool {
    record
        .get("messageAttributes")
        .and_then(|a| a.get(push_queue::KIND_ATTRIBUTE))
        .and_then(|a| a.get("stringValue"))
        .and_then(Value::as_str)
        == Some(push_queue::PUSH_BATCH)
}

/// SQS records, as events of the event queues or as push batches: every record of one event
/// comes from one queue, so a mix is refused rather than guessed.
fn classify_sqs(object: serde_json::Map<String, Value>) -> Result<Incoming, HandlerError> {
    let records = object
        .get("Records")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let (batches, total) = (
        records.iter().filter(|r| is_push_batch(r)).count(),
        records.len(),
    );
    if batches == 0 {
        return parse(Value::Object(object), "SQS").map(|r| Incoming::Sqs(Box::new(r)));
    }
    if batches < total {
        return Err(HandlerError::UnknownEvent(format!(
            "{batches} of {total} SQS records are push batches: one event's records come from one queue"
        )));
    }
    parse(Value::Object(object), "push batch").map(|r| Incoming::PushBatch(Box::new(r)))
}

/// Decides which shape `event` has and parses it into that type.
pub fn classify(event: Value) -> Result<Incoming, HandlerError> {
    let object = match event {
        // An invocation with an empty payload arrives as `{}` (or null from some clients).
        Value::Null => return Ok(Incoming::TestToken(TestTokenRequest::default())),
        Value::Object(object) => object,
        other => {
            return Err(HandlerError::UnknownEvent(format!(
                "expected a JSON object, got {}",
                json_kind(&other)
            )))
        }
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let route_key = object
        .get("requestContext")
        .and_then(|c| c.get("routeKey"))
        .and_then(Value::as_str);

    if text("type") == Some("REQUEST") && object.contains_key("methodArn") {
        return parse(Value::Object(object), "authorizer")
            .map(|r| Incoming::Authorizer(Box::new(r)));
    }
    if route_key.is_some() {
        return parse(Value::Object(object), "WebSocket").map(|r| Incoming::WebSocket(Box::new(r)));
    }
    if let Some(Value::Array(records)) = object.get("Records") {
        if is_sqs(records) {
            return classify_sqs(object);
        }
        return Err(HandlerError::UnknownEvent(
            "Records from a source other than aws:sqs".into(),
        ));
    }
    if object.contains_key("detail-type") && object.contains_key("source") {
        return parse(Value::Object(object), "EventBridge")
            .map(|r| Incoming::EventBridge(Box::new(r)));
    }
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    serde_json::from_value::<TestTokenRequest>(Value::Object(object.clone()))
        .map(Incoming::TestToken)
        .map_err(|_| {
            HandlerError::UnknownEvent(format!(
                "no known shape (WebSocket route, REQUEST authorizer, EventBridge, SQS, or test-token request) has the fields {keys:?}"
            ))
        })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
