//! `PutEvents` bodies through the gateway's whole router (`POST /`, JSON 1.1). Never a panic,
//! never a 5xx; a refused request is an AWS-shaped JSON 1.1 error; an accepted one answers
//! `FailedEntryCount` and one result per entry, each an `EventId` or an `ErrorCode` with a
//! message, and the count matches the failures.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wspush_fuzz::{assert_aws_error, assert_not_server_error, with_gateway};

const TARGETS: [&str; 4] = [
    "AWSEvents.PutEvents",
    "AWSEvents.PutEvents",
    "AWSEvents.PutRule",
    "",
];

#[derive(serde::Deserialize)]
struct Sent {
    #[serde(rename = "Entries")]
    entries: Option<Vec<serde::de::IgnoredAny>>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let target = TARGETS[usize::from(selector) % TARGETS.len()];
    let mut request = Request::post("/").header("content-type", "application/x-amz-json-1.1");
    if !target.is_empty() {
        request = request.header("x-amz-target", target);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    let (response, bytes) = with_gateway(|gateway| gateway.send(request));
    assert_not_server_error(&response, &bytes, "PutEvents");
    if response.status() != StatusCode::OK {
        assert_aws_error(&response, &bytes, "PutEvents");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-amz-json-1.1"),
            "a JSON 1.1 error"
        );
        return;
    }
    assert_eq!(target, "AWSEvents.PutEvents", "only PutEvents is served");
    let answer: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("PutEvents answer is not JSON ({e}): {bytes:?}"));
    let entries = answer["Entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no Entries: {answer}"));
    // Counted as the gateway reads the body: serde_json checks neither UTF-8 nor escapes inside
    // fields it skips, so a body whose unknown fields hold invalid UTF-8 or a lone surrogate
    // (`\ud800`) is accepted (both found by this target), though it is not valid JSON.
    let sent = serde_json::from_slice::<Sent>(body)
        .ok()
        .and_then(|sent| sent.entries.map(|entries| entries.len()));
    assert_eq!(sent, Some(entries.len()), "one result per entry: {answer}");
    let mut failures = 0;
    for entry in entries {
        match (entry.get("EventId"), entry.get("ErrorCode")) {
            (Some(Value::String(id)), None) => assert!(!id.is_empty()),
            (None, Some(Value::String(code))) => {
                failures += 1;
                assert!(!code.is_empty());
                assert!(entry["ErrorMessage"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()));
            }
            _ => panic!("an entry result is neither accepted nor failed: {entry}"),
        }
    }
    assert_eq!(
        answer["FailedEntryCount"].as_u64(),
        Some(failures),
        "{answer}"
    );
});
