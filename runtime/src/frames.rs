//! The JSON frames that cross the WebSocket, both ways.
//!
//! Client → server: `{"action": "subscribe" | "unsubscribe" | "ping" | "resume" | "history", ...}`.
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
pub const VALID_ACTIONS: &str = "subscribe, unsubscribe, ping, resume, history";

/// The most messages one `history` page holds, and how many when the client does not say.
pub const MAX_HISTORY_PAGE: usize = 100;
pub const DEFAULT_HISTORY_PAGE: usize = 50;

/// A well-formed request from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// With `since`, the messages after it are replayed first.
    Subscribe {
        entity_id: String,
        since: Option<Since>,
    },
    Unsubscribe {
        entity_id: String,
    },
    Ping,
    /// The caller's own user stream: its position, and with `since` the messages after it.
    Resume {
        since: Option<Since>,
    },
    History {
        stream: StreamName,
        page: Page,
        limit: usize,
    },
}

/// A client's position in a stream: the generation it knows (none when the stream had no
/// messages) and the newest serial it received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Since {
    pub stream_id: Option<String>,
    pub serial: u64,
}

/// Which stream a `history` frame reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamName {
    Entity(String),
    /// The caller's own user stream (`"stream": "user"`).
    User,
}

/// Which page of a stream's history: after a serial (ascending from it), before one (the newest
/// below it), or the newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    After(u64),
    Before(u64),
    Newest,
}

/// The `stream` value that names the caller's user stream.
pub const USER_STREAM: &str = "user";

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
    #[error("\"since\" must be {{\"streamId\": a string or null, \"serial\": a whole number}}, as the last Subscribed, push or Resumed frame gave them")]
    BadSince,
    #[error("history needs \"entityId\" or \"stream\": \"user\", not both")]
    BadHistoryStream,
    #[error("{0} must be a whole number")]
    BadSerial(&'static str),
    #[error("history takes \"after\" or \"before\", not both")]
    AfterAndBefore,
    #[error("\"limit\" must be a whole number from 1 to {MAX_HISTORY_PAGE}")]
    BadLimit,
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
            since: since(object)?,
        }),
        routes::UNSUBSCRIBE => Ok(ClientAction::Unsubscribe {
            entity_id: entity_id(object, routes::UNSUBSCRIBE)?,
        }),
        routes::PING => Ok(ClientAction::Ping),
        routes::RESUME => Ok(ClientAction::Resume {
            since: since(object)?,
        }),
        routes::HISTORY => history(object),
        other => Err(FrameError::UnknownAction(other.to_string())),
    }
}

type Object = serde_json::Map<String, Value>;

/// The optional `since` position.
fn since(object: &Object) -> Result<Option<Since>, FrameError> {
    let Some(since) = object.get("since").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let since = since.as_object().ok_or(FrameError::BadSince)?;
    let stream_id = match since.get("streamId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => return Err(FrameError::BadSince),
    };
    let serial = since
        .get("serial")
        .and_then(Value::as_u64)
        .ok_or(FrameError::BadSince)?;
    Ok(Some(Since { stream_id, serial }))
}

fn history(object: &Object) -> Result<ClientAction, FrameError> {
    let stream = match (object.get("entityId"), object.get("stream")) {
        (Some(_), None) => StreamName::Entity(entity_id(object, routes::HISTORY)?),
        (None, Some(Value::String(name))) if name == USER_STREAM => StreamName::User,
        _ => return Err(FrameError::BadHistoryStream),
    };
    let serial = |key: &'static str| -> Result<Option<u64>, FrameError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or(FrameError::BadSerial(key)),
        }
    };
    let page = match (serial("after")?, serial("before")?) {
        (Some(_), Some(_)) => return Err(FrameError::AfterAndBefore),
        (Some(after), None) => Page::After(after),
        (None, Some(before)) => Page::Before(before),
        (None, None) => Page::Newest,
    };
    let limit = match object.get("limit") {
        None | Some(Value::Null) => DEFAULT_HISTORY_PAGE,
        Some(value) => value
            .as_u64()
            .filter(|l| (1..=MAX_HISTORY_PAGE as u64).contains(l))
            .ok_or(FrameError::BadLimit)? as usize,
    };
    Ok(ClientAction::History {
        stream,
        page,
        limit,
    })
}

fn entity_id(object: &Object, action: &'static str) -> Result<String, FrameError> {
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
        /// The stream's position; absent when streams are switched off.
        #[serde(flatten)]
        position: Option<Position>,
    },
    /// The caller's user stream after a `resume`.
    Resumed {
        stream: &'static str,
        #[serde(flatten)]
        position: Position,
    },
    /// Continuity from the client's position could not be proven: nothing was replayed, and a
    /// subscription stands. `reason` is one of `wspush_contract::resume_failures`.
    #[serde(rename_all = "camelCase")]
    ResumeFailed {
        #[serde(skip_serializing_if = "Option::is_none")]
        entity_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'static str>,
        reason: &'static str,
        stream_id: Option<String>,
        oldest_serial: Option<u64>,
        serial: u64,
    },
    /// A page of a stream's history: complete push frames, ascending by serial.
    #[serde(rename_all = "camelCase")]
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        entity_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'static str>,
        stream_id: Option<String>,
        oldest_serial: Option<u64>,
        serial: u64,
        messages: Frames,
        more: bool,
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

/// Where a stream stands for a client: its generation (none before its first message) and
/// newest serial, and after a replay how many messages were replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Position {
    #[serde(rename = "streamId")]
    pub stream_id: Option<String>,
    pub serial: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
    /// The replay stopped at its deadline before the stream's newest message: `serial` is
    /// where it stopped, and the client reads the rest with `history`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

/// Push frames carried inside a reply, each the JSON text it is sent as.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Frames(pub Vec<Box<RawValue>>);

impl PartialEq for Frames {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| a.get() == b.get())
    }
}

impl Eq for Frames {}

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

/// Room a push frame keeps under API Gateway's message limit for the position added to it:
/// `{"streamId":"` + 32 hex digits + `","serial":` + 20 digits + `,`.
pub const POSITION_RESERVE_BYTES: usize = 80;

/// Room a `History` reply keeps for everything around its messages (an entity id of up to
/// 1,000 bytes among them). A push frame leaves this much room too, so any one message fits a
/// page of history and paging always moves on.
pub const HISTORY_ENVELOPE_BYTES: usize = 2 * 1024;

/// The largest push frame an event may make: with its position, and inside a `History` reply,
/// it stays within API Gateway's 128 KB message limit.
pub const MAX_PUSH_FRAME_BYTES: usize =
    wspush_contract::limits::MAX_MESSAGE_BYTES - POSITION_RESERVE_BYTES - HISTORY_ENVELOPE_BYTES;

/// A push frame with its stream position: `{"streamId":…,"serial":N,` put before the members of
/// `frame`, a JSON object as [`Push`] serializes it. History keeps frames without it, since a
/// message's serial is known only once the store has given it.
pub fn with_position(frame: &[u8], stream_id: &str, serial: u64) -> Vec<u8> {
    let id = serde_json::to_string(stream_id).unwrap_or_else(|_| "null".into());
    let members = frame.strip_prefix(b"{").unwrap_or(frame);
    let mut out = Vec::with_capacity(frame.len() + POSITION_RESERVE_BYTES);
    out.extend_from_slice(format!(r#"{{"streamId":{id},"serial":{serial},"#).as_bytes());
    out.extend_from_slice(members);
    out
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
                entity_id: "X".into(),
                since: None,
            })
        );
        let resuming = parse_client_frame(
            "subscribe",
            Some(r#"{"action":"subscribe","entityId":"X","since":{"streamId":"g","serial":4}}"#),
        );
        let since = Some(Since {
            stream_id: Some("g".into()),
            serial: 4,
        });
        assert_eq!(
            resuming,
            Ok(ClientAction::Subscribe {
                entity_id: "X".into(),
                since: since.clone()
            })
        );
        let resume = parse_client_frame(
            "resume",
            Some(r#"{"action":"resume","since":{"streamId":null,"serial":0}}"#),
        );
        let from_start = Some(Since {
            stream_id: None,
            serial: 0,
        });
        assert_eq!(resume, Ok(ClientAction::Resume { since: from_start }));
        let history = parse_client_frame(
            "history",
            Some(r#"{"action":"history","stream":"user","before":9,"limit":5}"#),
        );
        assert_eq!(
            history,
            Ok(ClientAction::History {
                stream: StreamName::User,
                page: Page::Before(9),
                limit: 5
            })
        );
        let parsed = parse_client_frame("$default", Some(r#"{"action":"ping"}"#));
        assert_eq!(parsed, Ok(ClientAction::Ping));
    }

    #[test]
    fn bad_positions_and_pages_explain_themselves() {
        let cases: [(&str, FrameError); 7] = [
            (
                r#"{"action":"subscribe","entityId":"X","since":5}"#,
                FrameError::BadSince,
            ),
            (
                r#"{"action":"resume","since":{"streamId":"g"}}"#,
                FrameError::BadSince,
            ),
            (
                r#"{"action":"resume","since":{"streamId":7,"serial":1}}"#,
                FrameError::BadSince,
            ),
            (r#"{"action":"history"}"#, FrameError::BadHistoryStream),
            (
                r#"{"action":"history","entityId":"X","stream":"user"}"#,
                FrameError::BadHistoryStream,
            ),
            (
                r#"{"action":"history","entityId":"X","after":1,"before":3}"#,
                FrameError::AfterAndBefore,
            ),
            (
                r#"{"action":"history","stream":"user","limit":101}"#,
                FrameError::BadLimit,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_client_frame("$default", Some(body)),
                Err(expected),
                "{body}"
            );
        }
        assert_eq!(
            parse_client_frame(
                "history",
                Some(r#"{"action":"history","entityId":"X","after":-1}"#)
            ),
            Err(FrameError::BadSerial("after"))
        );
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
            .contains("subscribe, unsubscribe, ping, resume, history"));
    }

    #[test]
    fn replies_and_pushes_have_the_contract_shape() {
        assert_eq!(Reply::Pong.to_json(), r#"{"type":"Pong"}"#);
        assert_eq!(
            Reply::Subscribed {
                entity_id: "X".into(),
                position: None,
            }
            .to_json(),
            r#"{"type":"Subscribed","entityId":"X"}"#
        );
        let position = Position {
            stream_id: None,
            serial: 0,
            replayed: Some(0),
            more: false,
        };
        assert_eq!(
            Reply::Subscribed {
                entity_id: "X".into(),
                position: Some(position),
            }
            .to_json(),
            r#"{"type":"Subscribed","entityId":"X","streamId":null,"serial":0,"replayed":0}"#
        );
        assert_eq!(
            Reply::ResumeFailed {
                entity_id: None,
                stream: Some(USER_STREAM),
                reason: "stream_reset",
                stream_id: Some("g".into()),
                oldest_serial: None,
                serial: 3,
            }
            .to_json(),
            r#"{"type":"ResumeFailed","stream":"user","reason":"stream_reset","streamId":"g","oldestSerial":null,"serial":3}"#
        );
        assert_eq!(
            with_position(br#"{"type":"Entity Updated","entityId":"e"}"#, "g", 7),
            br#"{"streamId":"g","serial":7,"type":"Entity Updated","entityId":"e"}"#
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
