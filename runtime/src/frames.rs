//! The JSON frames that cross the WebSocket, both ways.
//!
//! Client → server: `{"action": "subscribe" | "unsubscribe" | "ping", ...}`.
//! Server → client: replies to those (route responses) and pushes from EventBridge events.
//! Everything a client sends is parsed here into a typed [`ClientAction`] or a [`FrameError`]
//! whose message tells the client how to fix the frame.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use wspush_contract::{error_codes, routes};

/// Longest entity id accepted: `subscription#{entityId}` must fit DynamoDB's 1024-byte sort key.
pub const MAX_ENTITY_ID_BYTES: usize = 1000;

/// The actions a client may send, as the route selection expression sees them.
pub const VALID_ACTIONS: &str = "subscribe, unsubscribe, ping";

/// A well-formed request from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    Subscribe { entity_id: String },
    Unsubscribe { entity_id: String },
    Ping,
}

/// Why a client frame was refused; the message goes back to the client verbatim.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame is not valid JSON; send {{\"action\": ...}} with one of: {VALID_ACTIONS}")]
    NotJson,
    #[error("frame is not a JSON object; send {{\"action\": ...}} with one of: {VALID_ACTIONS}")]
    NotObject,
    #[error("frame has no \"action\"; valid actions: {VALID_ACTIONS}")]
    NoAction,
    #[error("unknown action {0:?}; valid actions: {VALID_ACTIONS}")]
    UnknownAction(String),
    #[error("\"entityId\" is required for {0} and must be a string")]
    MissingEntityId(&'static str),
    #[error("\"entityId\" must not be empty")]
    EmptyEntityId,
    #[error("\"entityId\" is longer than {MAX_ENTITY_ID_BYTES} bytes")]
    EntityIdTooLong,
}

/// Parses the body of a message routed to `route_key`.
///
/// The route key and the body's `action` agree whenever API Gateway selected the route; on
/// `$default` the body is examined to say precisely what is wrong with it.
pub fn parse_client_frame(route_key: &str, body: Option<&str>) -> Result<ClientAction, FrameError> {
    let value: Value = serde_json::from_str(body.unwrap_or("")).map_err(|_| FrameError::NotJson)?;
    let object = value.as_object().ok_or(FrameError::NotObject)?;
    let action = match object.get("action") {
        None | Some(Value::Null) => return Err(FrameError::NoAction),
        Some(Value::String(a)) => a.as_str(),
        Some(other) => return Err(FrameError::UnknownAction(other.to_string())),
    };
    // Trust the route API Gateway selected; fall back to the body on `$default`.
    let action = if route_key == routes::DEFAULT {
        action
    } else {
        route_key
    };
    match action {
        routes::SUBSCRIBE => Ok(ClientAction::Subscribe {
            entity_id: entity_id(object, routes::SUBSCRIBE)?,
        }),
        routes::UNSUBSCRIBE => Ok(ClientAction::Unsubscribe {
            entity_id: entity_id(object, routes::UNSUBSCRIBE)?,
        }),
        routes::PING => Ok(ClientAction::Ping),
        other => Err(FrameError::UnknownAction(other.to_string())),
    }
}

fn entity_id(
    object: &serde_json::Map<String, Value>,
    action: &'static str,
) -> Result<String, FrameError> {
    let id = object
        .get("entityId")
        .and_then(Value::as_str)
        .ok_or(FrameError::MissingEntityId(action))?;
    if id.is_empty() {
        return Err(FrameError::EmptyEntityId);
    }
    if id.len() > MAX_ENTITY_ID_BYTES {
        return Err(FrameError::EntityIdTooLong);
    }
    Ok(id.to_string())
}

/// A route response: the frame the client gets back for each message it sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Reply {
    Subscribed {
        #[serde(rename = "entityId")]
        entity_id: String,
    },
    Unsubscribed {
        #[serde(rename = "entityId")]
        entity_id: String,
    },
    Pong,
    /// A refusal: `code` is one of `wspush_contract::error_codes`, for programs; `message`
    /// is for people. `entityId` names the subscription refused, when one was.
    Error {
        code: &'static str,
        #[serde(rename = "entityId", skip_serializing_if = "Option::is_none")]
        entity_id: Option<String>,
        message: String,
    },
}

impl Reply {
    /// An error about the connection or the frame as a whole.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Reply::Error {
            code,
            entity_id: None,
            message: message.into(),
        }
    }

    /// A refused subscription.
    pub fn refused(code: &'static str, entity_id: &str, message: impl Into<String>) -> Self {
        Reply::Error {
            code,
            entity_id: Some(entity_id.to_string()),
            message: message.into(),
        }
    }

    /// The reply to a frame that does not parse.
    pub fn bad_request(error: &FrameError) -> Self {
        Self::error(error_codes::BAD_REQUEST, error.to_string())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"Error","code":"Unavailable","message":"internal error"}"#.into()
        })
    }
}

/// A push frame produced from an EventBridge event.
///
/// What it copies from the event's detail (`entityId`, `message`, `callback`) it holds as the
/// detail's own JSON text, so the frame carries it byte for byte (`fanout::audience` says why).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum Push<'a> {
    #[serde(rename = "Entity Updated", rename_all = "camelCase")]
    EntityUpdated {
        entity_id: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a RawValue>,
        /// The EventBridge event id, so clients can drop at-least-once duplicates.
        event_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    },
    #[serde(rename = "User Push Notification", rename_all = "camelCase")]
    UserPushNotification {
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        callback: Option<&'a RawValue>,
        event_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).expect("JSON")
    }

    #[test]
    fn subscribe_frames_parse() {
        let parsed = parse_client_frame(
            "subscribe",
            Some(r#"{"action":"subscribe","entityId":"X"}"#),
        );
        assert_eq!(
            parsed,
            Ok(ClientAction::Subscribe {
                entity_id: "X".into()
            })
        );
        let parsed = parse_client_frame("$default", Some(r#"{"action":"ping"}"#));
        assert_eq!(parsed, Ok(ClientAction::Ping));
    }

    #[test]
    fn bad_frames_explain_themselves() {
        let cases: [(&str, Option<&str>, FrameError); 8] = [
            ("$default", Some("not json"), FrameError::NotJson),
            ("$default", None, FrameError::NotJson),
            ("$default", Some("[1]"), FrameError::NotObject),
            ("$default", Some("{}"), FrameError::NoAction),
            (
                "$default",
                Some(r#"{"action":"dance"}"#),
                FrameError::UnknownAction("dance".into()),
            ),
            (
                "subscribe",
                Some(r#"{"action":"subscribe"}"#),
                FrameError::MissingEntityId("subscribe"),
            ),
            (
                "subscribe",
                Some(r#"{"action":"subscribe","entityId":7}"#),
                FrameError::MissingEntityId("subscribe"),
            ),
            (
                "unsubscribe",
                Some(r#"{"action":"unsubscribe","entityId":""}"#),
                FrameError::EmptyEntityId,
            ),
        ];
        for (route, body, expected) in cases {
            assert_eq!(
                parse_client_frame(route, body),
                Err(expected),
                "{route} {body:?}"
            );
        }
        let long = format!(
            r#"{{"action":"subscribe","entityId":"{}"}}"#,
            "x".repeat(MAX_ENTITY_ID_BYTES + 1)
        );
        assert_eq!(
            parse_client_frame("subscribe", Some(&long)),
            Err(FrameError::EntityIdTooLong)
        );
        assert!(FrameError::NoAction
            .to_string()
            .contains("subscribe, unsubscribe, ping"));
    }

    #[test]
    fn replies_and_pushes_have_the_contract_shape() {
        assert_eq!(Reply::Pong.to_json(), r#"{"type":"Pong"}"#);
        assert_eq!(
            Reply::Subscribed {
                entity_id: "X".into()
            }
            .to_json(),
            r#"{"type":"Subscribed","entityId":"X"}"#
        );
        let (entity_id, message) = (raw(r#""e""#), raw(r#""m""#));
        let push = Push::EntityUpdated {
            entity_id: &entity_id,
            message: Some(&message),
            event_id: "id-1".into(),
            time: None,
        };
        assert_eq!(
            Reply::refused(error_codes::FORBIDDEN, "X", "no").to_json(),
            r#"{"type":"Error","code":"Forbidden","entityId":"X","message":"no"}"#
        );
        assert_eq!(
            Reply::bad_request(&FrameError::NoAction).to_json(),
            format!(
                r#"{{"type":"Error","code":"BadRequest","message":"{}"}}"#,
                FrameError::NoAction.to_string().replace('"', "\\\"")
            )
        );
        assert_eq!(
            serde_json::to_value(&push).expect("serializes"),
            serde_json::json!({"type": "Entity Updated", "entityId": "e", "message": "m", "eventId": "id-1"})
        );
    }
}
