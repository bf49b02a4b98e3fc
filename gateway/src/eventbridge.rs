//! EventBridge `PutEvents` on `POST /` (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`).
//!
//! Entries are checked as EventBridge checks them, failing one by one (`FailedEntryCount` and
//! an `ErrorCode` per entry) while the others are accepted with an `EventId`. Each accepted
//! entry becomes the event EventBridge delivers, built as the `aws_lambda_events` type the
//! runtime parses ([`RawDetailEvent`]) and carried typed from here on: through the deployed
//! rules, which match on `detail-type` only, into the rule's local queue ([`crate::queues`]),
//! from which the events function receives them in SQS batches, as deployed. Delivery is
//! asynchronous, as in AWS: `PutEvents` answers before anyone is pushed to. The request's size
//! is EventBridge's: the sum of its entries' sizes as EventBridge counts them (`Time` 14 bytes,
//! and the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each `Resources` entry), at most
//! 256 KB.
//!
//! The event keeps the entry's `Detail` as the publisher's text, so every number literal and
//! string escape in it reaches clients as written. A `Detail` is refused as malformed, with a
//! message naming the reason, when it is not a JSON object, holds an integer outside a signed
//! 64 bits (the range `PutEvents` documents), or nests deeper than the events function reads
//! (`wspush_contract::nesting`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wspush_contract::nesting::MAX_DETAIL_DEPTH;
use wspush_runtime::fanout::RawDetailEvent;
use wspush_runtime::json_text;

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::state::AppState;

/// Largest `PutEvents` request EventBridge accepts.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Most entries in one `PutEvents` request.
pub const MAX_ENTRIES: usize = 10;
const PUT_EVENTS: &str = "AWSEvents.PutEvents";
const JSON_11: &str = "application/x-amz-json-1.1";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsRequest {
    entries: Option<Vec<Entry>>,
}

/// One entry of a `PutEvents` request, as the client sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    event_bus_name: Option<String>,
    /// Epoch seconds, as JSON 1.1 encodes timestamps.
    time: Option<f64>,
    resources: Option<Vec<String>>,
}

impl Entry {
    /// The entry's size as EventBridge computes it ("Calculating PutEvents event entry size").
    fn size(&self) -> usize {
        let text = |v: &Option<String>| v.as_ref().map_or(0, String::len);
        let time = if self.time.is_some() { 14 } else { 0 };
        let resources: usize = self.resources.iter().flatten().map(String::len).sum();
        time + text(&self.source) + text(&self.detail_type) + text(&self.detail) + resources
    }
}

/// Why EventBridge refused one entry: the `ErrorCode` and `ErrorMessage` of its result.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// EventBridge's JSON 1.1 operations on `POST /` ([`crate::aws_json`]); only `PutEvents` is
/// emulated.
pub(crate) async fn json_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GatewayError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target != PUT_EVENTS {
        return Err(GatewayError::UnknownOperation(format!(
            "operation {target:?} is not emulated; the local gateway serves {PUT_EVENTS} on POST /"
        )));
    }
    let entries = request_entries(body)?;
    let config = state.config();
    let outcomes: Vec<_> = entries.into_iter().map(|e| check(config, e)).collect();
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    let results: Vec<Value> = outcomes.iter().map(entry_result).collect();
    let accepted = outcomes.into_iter().filter_map(Result::ok).collect();
    state.queues().send(accepted);
    let body = json!({"FailedEntryCount": failed, "Entries": results}).to_string();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    Ok(response)
}

/// The request's entries, once the request as a whole passes EventBridge's checks: a body
/// within the size limit that parses, 1 to 10 entries, and their sizes summed within the limit.
fn request_entries(body: Result<Bytes, BytesRejection>) -> Result<Vec<Entry>, GatewayError> {
    let body = body.map_err(|_| {
        GatewayError::Validation(format!(
            "Total size of the entries in the request is over the limit ({MAX_REQUEST_BYTES} bytes)"
        ))
    })?;
    let request: PutEventsRequest = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::Serialization(format!("PutEvents request body: {e}")))?;
    let entries = request.entries.unwrap_or_default();
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(GatewayError::Validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES} (got {})",
            entries.len()
        )));
    }
    let size: usize = entries.iter().map(Entry::size).sum();
    if size > MAX_REQUEST_BYTES {
        return Err(GatewayError::Validation(format!(
            "Total size of the entries in the request is over the limit ({size} bytes > {MAX_REQUEST_BYTES}, counted as EventBridge counts entry sizes)"
        )));
    }
    Ok(entries)
}

/// One entry's line in the answer: its `EventId`, or why it failed.
fn entry_result(outcome: &Result<RawDetailEvent, Refusal>) -> Value {
    match outcome {
        Ok(event) => json!({"EventId": event.id}),
        Err(refusal) => json!({"ErrorCode": refusal.code, "ErrorMessage": refusal.message}),
    }
}

fn failed(code: &'static str, message: impl Into<String>) -> Result<RawDetailEvent, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
    })
}

fn required(field: &str) -> String {
    format!("Parameter {field} is not valid. Reason: {field} is a required argument.")
}

/// Validates one entry and builds the event EventBridge would deliver.
pub fn check(config: &GatewayConfig, entry: Entry) -> Result<RawDetailEvent, Refusal> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let Some(source) = non_empty(entry.source) else {
        return failed("InvalidArgument", required("Source"));
    };
    let Some(detail_type) = non_empty(entry.detail_type) else {
        return failed("InvalidArgument", required("DetailType"));
    };
    let Some(detail) = non_empty(entry.detail) else {
        return failed("InvalidArgument", required("Detail"));
    };
    let detail = match checked_detail(detail) {
        Ok(detail) => detail,
        Err(reason) => return failed("MalformedDetail", reason),
    };
    match entry.event_bus_name.as_deref() {
        None | Some("") | Some("default") => {}
        Some(bus) if bus.ends_with(":event-bus/default") => {}
        Some(bus) => {
            return failed(
                "InvalidArgument",
                format!(
                    "Event bus {bus} does not exist. The local gateway has only the default bus."
                ),
            )
        }
    }
    let mut event = RawDetailEvent::default();
    event.version = Some("0".into());
    event.id = Some(uuid::Uuid::new_v4().to_string());
    event.detail_type = detail_type;
    event.source = source;
    event.account = Some(config.account_id.clone());
    event.time = Some(event_time(entry.time));
    event.region = Some(config.region.clone());
    event.resources = Some(entry.resources.unwrap_or_default());
    event.detail = detail;
    Ok(event)
}

/// The entry's `Detail` as EventBridge takes it, kept as the publisher's text: a JSON object
/// whose integers fit a signed 64-bit integer, nested no deeper than the events function reads
/// ([`MAX_DETAIL_DEPTH`]); or the `ErrorMessage` saying why not. The limits are checked on the
/// text, before any parse into a tree, so a deep detail gets the message that says so.
fn checked_detail(detail: String) -> Result<Box<RawValue>, String> {
    const MALFORMED: &str = "Detail is malformed.";
    let detail = RawValue::from_string(detail).map_err(|_| MALFORMED.to_string())?;
    if !detail.get().starts_with("{") {
        return Err(MALFORMED.into());
    }
    let mut out_of_range = None;
    let depth = json_text::walk(detail.get(), |number| {
        if out_of_range.is_none() && json_text::is_integer(number) && number.parse::<i64>().is_err()
        {
            out_of_range = Some(number);
        }
    });
    if let Some(number) = out_of_range {
        return Err(format!(
            "{MALFORMED} The integer {number} is outside the range PutEvents accepts for JSON integers, {} to {}; send it as a string or a decimal.",
            i64::MIN,
            i64::MAX
        ));
    }
    if depth > MAX_DETAIL_DEPTH {
        return Err(format!(
            "{MALFORMED} It nests {depth} levels of arrays and objects (its own object counted); the events function reads at most {MAX_DETAIL_DEPTH}."
        ));
    }
    // `RawValue` checks only the grammar; what a `Value` does not read either (an unpaired
    // surrogate escape, a number beyond `f64` such as `1e400`) stays malformed.
    if serde_json::from_str::<Value>(detail.get()).is_err() {
        return Err(MALFORMED.into());
    }
    Ok(detail)
}

/// The entry's `Time`, or now; in whole seconds, as EventBridge stamps events.
fn event_time(time: Option<f64>) -> DateTime<Utc> {
    time.and_then(|secs| DateTime::from_timestamp(secs as i64, 0))
        .unwrap_or_else(Utc::now)
        .trunc_subsecs(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_is_kept_as_written_or_refused_with_its_reason() {
        let kept = r#"{ "m" : [1E2, -9223372036854775808, 9223372036854775807, "\u00e9"] }"#;
        assert_eq!(
            checked_detail(kept.into()).expect("kept").get(),
            kept.trim()
        );
        for malformed in [
            "[1]",
            "\"text\"",
            "{",
            r#"{"m":"\ud800"}"#,
            r#"{"m":1e400}"#,
        ] {
            assert_eq!(
                checked_detail(malformed.into()).expect_err(malformed),
                "Detail is malformed."
            );
        }
        let too_big = checked_detail(r#"{"m":[1,18446744073709551616]}"#.into()).expect_err("u64");
        assert!(
            too_big.contains("integer 18446744073709551616 is outside"),
            "{too_big}"
        );
        let nested =
            |depth: usize| format!(r#"{{"m":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert!(checked_detail(nested(MAX_DETAIL_DEPTH - 1)).is_ok());
        let deep = checked_detail(nested(MAX_DETAIL_DEPTH)).expect_err("too deep");
        assert!(
            deep.contains(&format!("nests {} levels", MAX_DETAIL_DEPTH + 1)),
            "{deep}"
        );
    }
}
