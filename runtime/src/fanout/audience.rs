//! Reading an EventBridge event: who receives it, and the frame they receive.
//!
//! Everything the fan-out needs from the event is checked here, before a single recipient is
//! read: a malformed event is refused as a whole (retrying it cannot help), and the frame is
//! serialized once for every recipient and held to API Gateway's message limit.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Map, Value};
use wspush_contract::{detail_types, limits};

use crate::error::HandlerError;
use crate::frames::{Push, MAX_ENTITY_ID_BYTES};

/// Who receives an event, and the frame they receive.
#[derive(Debug, PartialEq)]
pub enum Audience {
    EntitySubscribers(String),
    UserConnections(String),
}

/// Turns an EventBridge event into its audience and serialized frame, or says why it is invalid.
pub fn plan(event: &EventBridgeEvent<Value>) -> Result<(Audience, Vec<u8>), HandlerError> {
    let (audience, push) = read(event)?;
    Ok((audience, serialize(&push)?))
}

fn invalid(reason: String) -> HandlerError {
    HandlerError::InvalidEvent(reason)
}

/// Reads the audience and the push from the event's `detail-type` and `detail`.
fn read(event: &EventBridgeEvent<Value>) -> Result<(Audience, Push), HandlerError> {
    let detail = event
        .detail
        .as_object()
        .ok_or_else(|| invalid("detail must be a JSON object".into()))?;
    let fields = EventFields::of(event, detail);
    match event.detail_type.as_str() {
        detail_types::ENTITY_UPDATED => entity_updated(detail, fields),
        detail_types::USER_PUSH => user_push(detail, fields),
        other => Err(invalid(format!(
            "detail-type {other:?} is not handled; expected one of {:?}",
            detail_types::ALL
        ))),
    }
}

/// What every push frame copies from its event, whoever receives it.
struct EventFields {
    message: Option<Value>,
    event_id: String,
    time: Option<String>,
}

impl EventFields {
    fn of(event: &EventBridgeEvent<Value>, detail: &Map<String, Value>) -> Self {
        Self {
            // Optional, as in the quick start, whose publishers may send only the entity id.
            message: detail.get("message").filter(|m| !m.is_null()).cloned(),
            event_id: event.id.clone().unwrap_or_default(),
            time: event
                .time
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// A non-empty string field of `detail`.
fn text<'a>(detail: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    detail
        .get(key)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// "Entity Updated": every subscriber of `detail.entityId`.
fn entity_updated(
    detail: &Map<String, Value>,
    fields: EventFields,
) -> Result<(Audience, Push), HandlerError> {
    let entity_id = text(detail, "entityId")
        .ok_or_else(|| invalid("detail.entityId must be a non-empty string".into()))?;
    if entity_id.len() > MAX_ENTITY_ID_BYTES {
        return Err(invalid(format!(
            "detail.entityId is longer than {MAX_ENTITY_ID_BYTES} bytes"
        )));
    }
    let push = Push::EntityUpdated {
        entity_id: entity_id.to_string(),
        message: fields.message,
        event_id: fields.event_id,
        time: fields.time,
    };
    Ok((Audience::EntitySubscribers(entity_id.to_string()), push))
}

/// "Send User Push Notification": every connection of `detail.userId`.
fn user_push(
    detail: &Map<String, Value>,
    fields: EventFields,
) -> Result<(Audience, Push), HandlerError> {
    let user_id = text(detail, "userId")
        .ok_or_else(|| invalid("detail.userId must be a non-empty string".into()))?;
    let callback = match detail.get("callback") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(invalid("detail.callback must be a string".into())),
    };
    let push = Push::UserPushNotification {
        message: fields.message,
        callback,
        event_id: fields.event_id,
        time: fields.time,
    };
    Ok((Audience::UserConnections(user_id.to_string()), push))
}

/// The frame every recipient receives, within API Gateway's message limit.
fn serialize(push: &Push) -> Result<Vec<u8>, HandlerError> {
    let frame =
        serde_json::to_vec(push).map_err(|e| invalid(format!("frame does not serialize: {e}")))?;
    if frame.len() > limits::MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "frame is {} bytes, over API Gateway's 128 KB ({} bytes) message limit",
            frame.len(),
            limits::MAX_MESSAGE_BYTES
        )));
    }
    Ok(frame)
}
