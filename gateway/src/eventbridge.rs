//! EventBridge `PutEvents` on `POST /` (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`).
//!
//! Entries are checked as EventBridge checks them, failing one by one (`FailedEntryCount` and
//! an `ErrorCode` per entry) while the others are accepted with an `EventId`. Accepted events
//! go through the deployed rules, which match on `detail-type` only; a matching event reaches
//! the runtime the way the deployed pipeline delivers it: as the body of an SQS record. The
//! runtime's batch answer decides redelivery, up to the queue's `maxReceiveCount`; after that
//! the event is dead-lettered, which locally means a warning in the log naming the event.
//! Delivery is asynchronous, as in AWS: `PutEvents` answers before anyone is pushed to.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use wspush_contract::detail_types;

use crate::error::GatewayError;
use crate::AppState;

/// Largest `PutEvents` request EventBridge accepts.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Most entries in one `PutEvents` request.
pub const MAX_ENTRIES: usize = 10;
const PUT_EVENTS: &str = "AWSEvents.PutEvents";
const JSON_11: &str = "application/x-amz-json-1.1";

pub fn router() -> Router<AppState> {
    Router::new().route("/", post(json_api))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsRequest {
    entries: Option<Vec<Entry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    event_bus_name: Option<String>,
    /// Epoch seconds, as JSON 1.1 encodes timestamps.
    time: Option<f64>,
    resources: Option<Vec<String>>,
}

/// One entry's fate.
enum Outcome {
    Accepted { event_id: String, event: Value },
    Failed { code: &'static str, message: String },
}

/// `POST /` carries every JSON 1.1 operation; only `PutEvents` is emulated.
async fn json_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
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
    if body.len() > MAX_REQUEST_BYTES {
        return Err(GatewayError::Validation(format!(
            "Total size of the entries in the request is over the limit ({} bytes > {MAX_REQUEST_BYTES})",
            body.len()
        )));
    }
    let request: PutEventsRequest = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::Serialization(format!("PutEvents request body: {e}")))?;
    let entries = request.entries.unwrap_or_default();
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(GatewayError::Validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES} (got {})",
            entries.len()
        )));
    }

    let outcomes: Vec<Outcome> = entries.into_iter().map(|e| check(&state, e)).collect();
    let mut failed = 0;
    let mut results = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Outcome::Accepted { event_id, event } => {
                results.push(json!({"EventId": event_id}));
                route(&state, event);
            }
            Outcome::Failed { code, message } => {
                failed += 1;
                results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
            }
        }
    }
    let body = json!({"FailedEntryCount": failed, "Entries": results}).to_string();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    Ok(response)
}

fn failed(code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        code,
        message: message.into(),
    }
}

fn required(field: &str) -> String {
    format!("Parameter {field} is not valid. Reason: {field} is a required argument.")
}

/// Validates one entry and builds the event EventBridge would deliver.
fn check(state: &AppState, entry: Entry) -> Outcome {
    let config = state.config();
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
    // EventBridge takes only a JSON object as detail.
    let detail = match serde_json::from_str::<Value>(&detail) {
        Ok(object @ Value::Object(_)) => object,
        _ => return failed("MalformedDetail", "Detail is malformed."),
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
    let time = entry
        .time
        .and_then(|secs| chrono::DateTime::from_timestamp(secs as i64, 0))
        .unwrap_or_else(chrono::Utc::now);
    let event_id = uuid::Uuid::new_v4().to_string();
    let event = json!({
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": config.account_id,
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": config.region,
        "resources": entry.resources.unwrap_or_default(),
        "detail": detail,
    });
    Outcome::Accepted { event_id, event }
}

/// The deployed rules: one per detail type, `{"detail-type": [type]}`.
fn matches_a_rule(event: &Value) -> bool {
    event
        .get("detail-type")
        .and_then(Value::as_str)
        .is_some_and(|t| detail_types::ALL.contains(&t))
}

/// Hands a matching event to the runtime in the background.
fn route(state: &AppState, event: Value) {
    if !matches_a_rule(&event) {
        tracing::info!(event_id = %event["id"], detail_type = %event["detail-type"], "no rule matches; event dropped, as EventBridge drops it");
        return;
    }
    let state = state.clone();
    tokio::spawn(async move { deliver(&state, event).await });
}

/// One SQS record holding the event, as the deployed queue delivers it.
fn sqs_batch(state: &AppState, event: &Value, receive_count: u32) -> Value {
    let config = state.config();
    let detail_type = event["detail-type"].as_str().unwrap_or("");
    let queue = detail_type.to_lowercase().replace(' ', "-");
    json!({"Records": [{
        "messageId": uuid::Uuid::new_v4().to_string(),
        "receiptHandle": uuid::Uuid::new_v4().to_string(),
        "body": event.to_string(),
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
            "SenderId": "events.amazonaws.com",
            "ApproximateFirstReceiveTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{}:{}:{queue}", config.region, config.account_id),
        "awsRegion": config.region,
    }]})
}

async fn deliver(state: &AppState, event: Value) {
    let config = state.config();
    let event_id = event["id"].as_str().unwrap_or("").to_string();
    for receive in 1..=config.max_receive_count.max(1) {
        let result = state
            .runtime()
            .handle(sqs_batch(state, &event, receive))
            .await;
        let failed = match &result {
            Ok(answer) => answer
                .get("batchItemFailures")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()),
            Err(_) => true,
        };
        if !failed {
            tracing::debug!(%event_id, receive, "event delivered");
            return;
        }
        if receive < config.max_receive_count {
            tracing::warn!(%event_id, receive, "event delivery failed; it will be received again");
            tokio::time::sleep(config.redelivery_delay).await;
        }
    }
    tracing::warn!(%event_id, event = %event, "event dead-lettered after {} receives", config.max_receive_count);
}
