//! Reading an EventBridge event: who receives it, and the frame they receive.
//!
//! Everything the fan-out needs from the event is checked here, before a single recipient is
//! read: a malformed event is refused as a whole (retrying it cannot help), and the frame is
//! serialized once for every recipient and held to API Gateway's message limit.
//!
//! Data passes through exactly. The event's detail is kept as the publisher's JSON text
//! ([`RawDetailEvent`]: serde_json's `RawValue`, its `raw_value` feature), its members are read
//! as text, and the frame copies `entityId`, `message` and `callback` as that text, byte for
//! byte: every number literal (`123456789012345678901234567890`, `0.1000000000000000055511151231257827`,
//! `1E2`), string escape and insignificant whitespace inside them as the event carried it. The
//! members that decide the audience are decoded only to check them. A parse into
//! `serde_json::Value` would turn such numbers into `f64` (`1.2345678901234568e29`, `0.1`,
//! `100.0`) and re-escape strings.
//!
//! Why `RawValue` and not serde_json's `arbitrary_precision` feature: a feature is on for the
//! whole build, so it would change every `Value` in every crate (`aws_lambda_events`' types and
//! the SDK's among them), it keeps number literals but still decodes and re-escapes strings, and
//! it breaks non-integer numbers under `#[serde(flatten)]` (serde-rs/json#721), which
//! `aws_lambda_events` uses for the fields it does not name. `RawValue` is exact where the frame
//! needs it and nowhere else.

use std::collections::HashMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::value::RawValue;
use wspush_contract::nesting::MAX_DETAIL_DEPTH;
use wspush_contract::{detail_types, limits};

use crate::error::HandlerError;
use crate::frames::{Push, MAX_ENTITY_ID_BYTES, MAX_PUSH_FRAME_BYTES};
use crate::json_text::nesting_depth;

/// An EventBridge event whose detail is the JSON text the event carried.
pub type RawDetailEvent = EventBridgeEvent<Box<RawValue>>;

/// Who receives an event, and the frame they receive.
#[derive(Debug, PartialEq)]
pub enum Audience {
    EntitySubscribers(String),
    UserConnections(String),
}

/// Reads an SQS record's body, the EventBridge event as JSON, keeping its detail's text.
pub fn read_event(body: &str) -> Result<RawDetailEvent, HandlerError> {
    serde_json::from_str(body)
        .map_err(|e| invalid(format!("SQS record body is not an EventBridge event: {e}")))
}

/// Turns an EventBridge event into its audience and serialized frame, or says why it is invalid.
pub fn plan(event: &RawDetailEvent) -> Result<(Audience, Vec<u8>), HandlerError> {
    let detail = Detail::read(&event.detail)?;
    let (audience, push) = read(event, &detail)?;
    Ok((audience, serialize(&push)?))
}

fn invalid(reason: String) -> HandlerError {
    HandlerError::InvalidEvent(reason)
}

/// The members of an event's detail, each as its JSON text.
struct Detail<'a>(HashMap<String, &'a RawValue>);

impl<'a> Detail<'a> {
    /// Reads the detail's members: it must be a JSON object nested no deeper than the runtime
    /// reads an event delivered directly ([`MAX_DETAIL_DEPTH`]).
    fn read(detail: &'a RawValue) -> Result<Self, HandlerError> {
        let depth = nesting_depth(detail.get());
        if depth > MAX_DETAIL_DEPTH {
            return Err(invalid(format!(
                "detail nests {depth} levels deep (its own object counted); the deepest the events function reads is {MAX_DETAIL_DEPTH}"
            )));
        }
        // A map, not a struct: a struct would also take an array, by position. Of repeated
        // keys the last counts, as in a `Value`.
        serde_json::from_str(detail.get())
            .map(Self)
            .map_err(|_| invalid("detail must be a JSON object".into()))
    }

    /// A member's text, unless it is absent or `null`.
    fn member(&self, key: &str) -> Option<&'a RawValue> {
        self.0.get(key).copied().filter(|raw| raw.get() != "null")
    }

    /// A member that must be a non-empty string: its text and its decoded value.
    fn required_text(&self, key: &str) -> Result<(&'a RawValue, String), HandlerError> {
        self.member(key)
            .and_then(|raw| Some((raw, serde_json::from_str::<String>(raw.get()).ok()?)))
            .filter(|(_, decoded)| !decoded.is_empty())
            .ok_or_else(|| invalid(format!("detail.{key} must be a non-empty string")))
    }
}

/// Reads the audience and the push from the event's `detail-type` and `detail`.
fn read<'a>(
    event: &RawDetailEvent,
    detail: &Detail<'a>,
) -> Result<(Audience, Push<'a>), HandlerError> {
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
struct EventFields<'a> {
    message: Option<&'a RawValue>,
    event_id: String,
    time: Option<String>,
}

impl<'a> EventFields<'a> {
    fn of(event: &RawDetailEvent, detail: &Detail<'a>) -> Self {
        Self {
            // Optional, as in the quick start, whose publishers may send only the entity id.
            message: detail.member("message"),
            event_id: event.id.clone().unwrap_or_default(),
            time: event
                .time
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// "Entity Updated": every subscriber of `detail.entityId`.
fn entity_updated<'a>(
    detail: &Detail<'a>,
    fields: EventFields<'a>,
) -> Result<(Audience, Push<'a>), HandlerError> {
    let (raw_id, entity_id) = detail.required_text("entityId")?;
    if entity_id.len() > MAX_ENTITY_ID_BYTES {
        return Err(invalid(format!(
            "detail.entityId is longer than {MAX_ENTITY_ID_BYTES} bytes"
        )));
    }
    let push = Push::EntityUpdated {
        entity_id: raw_id,
        message: fields.message,
        event_id: fields.event_id,
        time: fields.time,
    };
    Ok((Audience::EntitySubscribers(entity_id), push))
}

/// "Send User Push Notification": every connection of `detail.userId`.
fn user_push<'a>(
    detail: &Detail<'a>,
    fields: EventFields<'a>,
) -> Result<(Audience, Push<'a>), HandlerError> {
    let (_, user_id) = detail.required_text("userId")?;
    let callback = detail.member("callback");
    if callback.is_some_and(|c| serde_json::from_str::<String>(c.get()).is_err()) {
        return Err(invalid("detail.callback must be a string".into()));
    }
    let push = Push::UserPushNotification {
        message: fields.message,
        callback,
        event_id: fields.event_id,
        time: fields.time,
    };
    Ok((Audience::UserConnections(user_id), push))
}

/// The frame every recipient receives, within API Gateway's message limit once its stream
/// position is added, and within a page of history ([`MAX_PUSH_FRAME_BYTES`]).
fn serialize(push: &Push) -> Result<Vec<u8>, HandlerError> {
    let frame =
        serde_json::to_vec(push).map_err(|e| invalid(format!("frame does not serialize: {e}")))?;
    let most = MAX_PUSH_FRAME_BYTES;
    if frame.len() > most {
        return Err(invalid(format!(
            "frame is {} bytes; with its stream position, alone or in a page of history, it must fit API Gateway's 128 KB ({} bytes) message limit, so at most {most} bytes",
            frame.len(),
            limits::MAX_MESSAGE_BYTES
        )));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspush_contract::nesting::{MAX_MESSAGE_DEPTH, SERDE_JSON_MAX_DEPTH};

    /// Messages whose text a parse into `Value` would change.
    const EXACT_MESSAGES: [&str; 5] = [
        "123456789012345678901234567890",
        "-9223372036854775809",
        "0.1000000000000000055511151231257827",
        "1E2",
        r#"{ "n" : [1E2 ,-0.0e+00,  18446744073709551616],
  "s":"caf\u00e9 \"q\" \/ \ud83d\ude00\n", "s":"the last of two" }"#,
    ];

    /// An SQS record's body: the event as EventBridge writes it, `detail` as given.
    fn body(detail_type: &str, detail: &str) -> String {
        format!(
            r#"{{"version":"0","id":"ev-1","detail-type":"{detail_type}","source":"backend","account":"0","time":"2026-11-25T00:00:00Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
        )
    }

    fn frame(detail_type: &str, detail: &str) -> Result<(Audience, String), HandlerError> {
        let event = read_event(&body(detail_type, detail))?;
        let (audience, frame) = plan(&event)?;
        Ok((audience, String::from_utf8(frame).expect("UTF-8")))
    }

    #[test]
    fn frames_carry_the_message_as_the_detail_wrote_it() {
        for message in EXACT_MESSAGES {
            let detail = format!(r#"{{"entityId":"caf\u00e9","message":{message}}}"#);
            let (audience, text) = frame("Entity Updated", &detail).expect("valid");
            assert_eq!(audience, Audience::EntitySubscribers("café".into()));
            assert_eq!(
                text,
                format!(
                    r#"{{"type":"Entity Updated","entityId":"caf\u00e9","message":{message},"eventId":"ev-1","time":"2026-11-25T00:00:00Z"}}"#
                )
            );
            let detail = format!(
                r#"{{"userId":"u","message":{message},"callback":"https:\/\/example.com\/?q=caf\u00e9"}}"#
            );
            let (audience, text) = frame("Send User Push Notification", &detail).expect("valid");
            assert_eq!(audience, Audience::UserConnections("u".into()));
            assert_eq!(
                text,
                format!(
                    r#"{{"type":"User Push Notification","message":{message},"callback":"https:\/\/example.com\/?q=caf\u00e9","eventId":"ev-1","time":"2026-11-25T00:00:00Z"}}"#
                )
            );
        }
    }

    #[test]
    fn absent_and_null_members_leave_the_frame_without_them() {
        let (_, frame) = frame(
            "Send User Push Notification",
            r#"{"userId":"u","message":null,"callback":null}"#,
        )
        .expect("valid");
        assert_eq!(
            frame,
            r#"{"type":"User Push Notification","eventId":"ev-1","time":"2026-11-25T00:00:00Z"}"#
        );
    }

    #[test]
    fn members_that_decide_the_audience_are_checked_as_strictly_as_values() {
        let cases = [
            ("Entity Updated", r#"[{"entityId":"e"}]"#, "JSON object"),
            ("Entity Updated", r#"{"entityId":7}"#, "entityId"),
            ("Entity Updated", r#"{"entityId":""}"#, "entityId"),
            ("Entity Updated", r#"{"entityId":null}"#, "entityId"),
            ("Send User Push Notification", r#"{"userId":42}"#, "userId"),
            (
                "Send User Push Notification",
                r#"{"userId":"u","callback":{"url":"x"}}"#,
                "callback",
            ),
        ];
        for (detail_type, detail, reason) in cases {
            let err = frame(detail_type, detail).expect_err(detail);
            assert!(
                err.is_permanent() && err.to_string().contains(reason),
                "{err}"
            );
        }
        let long = format!(
            r#"{{"entityId":"{}"}}"#,
            "x".repeat(MAX_ENTITY_ID_BYTES + 1)
        );
        assert!(frame("Entity Updated", &long).is_err());
    }

    /// The deepest message the limit allows is delivered, one level deeper is refused; and the
    /// limit is where serde_json stops reading the event delivered directly.
    #[test]
    fn the_nesting_limit_is_serde_jsons_less_the_event_above_the_detail() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let detail = |depth: usize| format!(r#"{{"entityId":"e","message":{}}}"#, nested(depth));

        let deepest = nested(MAX_MESSAGE_DEPTH);
        let (_, frame_text) = frame("Entity Updated", &detail(MAX_MESSAGE_DEPTH)).expect("valid");
        assert!(frame_text.contains(&format!(r#""message":{deepest},"#)));
        let err = frame("Entity Updated", &detail(MAX_MESSAGE_DEPTH + 1)).expect_err("too deep");
        assert!(err.to_string().contains("levels deep"), "{err}");

        let direct = |depth| {
            serde_json::from_str::<serde_json::Value>(&body("Entity Updated", &detail(depth)))
        };
        assert!(direct(MAX_MESSAGE_DEPTH).is_ok());
        let refused = direct(MAX_MESSAGE_DEPTH + 1).expect_err("over serde_json's limit");
        assert!(refused.to_string().contains("recursion limit"), "{refused}");
        assert!(serde_json::from_str::<serde_json::Value>(&nested(SERDE_JSON_MAX_DEPTH)).is_ok());
        assert!(
            serde_json::from_str::<serde_json::Value>(&nested(SERDE_JSON_MAX_DEPTH + 1)).is_err()
        );
    }
}
