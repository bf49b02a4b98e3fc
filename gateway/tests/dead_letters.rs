//! Dead letters with their reasons: an event the runtime refuses for what it is goes from
//! `PutEvents` through its queue to the events function, which sends it with SQS `SendMessage`
//! to this gateway's dead-letter queue on its first receive; the listing shows why. The
//! gateway's `SendMessage` takes what SQS takes and refuses what SQS refuses.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::Request;
use common::*;
use md5::Digest;
use serde_json::{json, Value};
use wspush_gateway::{GatewayConfig, QueueSettings};
use wspush_runtime::dead_letters::{DeadLetter, DeadLetterError, Reason};

/// A gateway whose failed receives come back after 2 s (not the deployed 180 s), so a retried
/// event would be received again within the test; longer than any one invocation takes here,
/// so a message is not received again while its first receive is still being handled.
async fn gateway() -> TestGateway {
    TestGateway::start_with(GatewayConfig {
        queues: QueueSettings {
            visibility_timeout: Duration::from_secs(2),
            ..QueueSettings::default()
        },
        ..GatewayConfig::default()
    })
    .await
}

/// Each kind of event the runtime refuses for what it is: its detail type, its detail, and a
/// phrase of the reason. (Nesting deeper than the runtime reads never gets this far here: the
/// gateway's PutEvents refuses it, `eventbridge_lambda.rs`; the runtime's own refusal of it is
/// tested in `runtime/tests/dead_letters.rs`.)
fn refused_events() -> Vec<(&'static str, String, &'static str)> {
    let entity = "Entity Updated";
    let user = "Send User Push Notification";
    let non_empty = "detail.entityId must be a non-empty string";
    vec![
        (entity, json!({"entityId": 42}).to_string(), non_empty),
        (entity, json!({"entityId": ""}).to_string(), non_empty),
        (
            entity,
            json!({"entityId": "x".repeat(1001)}).to_string(),
            "longer than 1000 bytes",
        ),
        (
            entity,
            json!({"entityId": "e1", "message": "m".repeat(130 * 1024)}).to_string(),
            "128 KB",
        ),
        (
            user,
            json!({"userId": "u", "callback": {"url": "x"}}).to_string(),
            "detail.callback must be a string",
        ),
        (
            user,
            json!({"userId": 7}).to_string(),
            "detail.userId must be a non-empty string",
        ),
    ]
}

/// What every queue has seen, summed.
fn counts(gw: &TestGateway) -> (u64, u64, u64, u64) {
    gw.state.queues().all().iter().map(|q| q.counts()).fold(
        (0, 0, 0, 0),
        |(received, again, deleted, dead), c| {
            (
                received + c.received,
                again + c.received_again,
                deleted + c.deleted,
                dead + c.dead_lettered,
            )
        },
    )
}

async fn dead_letter_listing(gw: &TestGateway) -> Vec<Value> {
    let request = Request::get("/_gateway/dead-letters")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(gw, request).await;
    assert_eq!(status, 200);
    body["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn events_that_can_never_succeed_are_dead_lettered_on_their_first_receive_with_their_reason()
{
    let gw = gateway().await;
    let cases = refused_events();
    for (n, (detail_type, detail, reason)) in cases.iter().enumerate() {
        let entry = json!([{"Source": "test", "DetailType": detail_type, "Detail": detail}]);
        let (status, _, answer) = call(&gw, put_events_request(entry)).await;
        assert_eq!(
            (status, &answer["FailedEntryCount"]),
            (200, &json!(0)),
            "{reason}"
        );
        let event_id = answer["Entries"][0]["EventId"]
            .as_str()
            .expect("an EventId");
        assert!(
            eventually(10, || gw.state.queues().dead_letters().len() == n + 1).await,
            "{reason}: dead-lettered once; (received, again, deleted, dead) {:?}",
            counts(&gw)
        );
        let listing = dead_letter_listing(&gw).await;
        let dead = listing
            .iter()
            .find(|m| m["body"].as_str().unwrap_or("").contains(event_id))
            .expect("the event's dead letter");
        assert_eq!(dead["errorCode"], "InvalidEvent", "{reason}");
        let why = dead["lastError"].as_str().unwrap_or("");
        assert!(why.contains(reason), "{why:?} says {reason:?}");
        assert_eq!(
            dead["messageAttributes"]["ERROR_MESSAGE"]["StringValue"], why,
            "the reason is the message's own attribute"
        );
        if dead["event"].is_object() {
            // The body is the event the queue carried: its id and its detail as published.
            assert_eq!(dead["event"]["id"], event_id);
            let published: Value = serde_json::from_str(detail).expect("JSON detail");
            assert_eq!(dead["event"]["detail"], published, "{reason}");
        }
    }
    let n = cases.len() as u64;
    // A record is deleted when its batch settles, just after the function sent its dead letter.
    eventually(10, || counts(&gw) == (n, 0, n, n)).await;
    assert_eq!(
        counts(&gw),
        (n, 0, n, n),
        "(received, received again, deleted, dead-lettered): each received once, reported done"
    );
    assert_eq!(gw.state.functions().events.stats().invocations, n);

    // Redriven, each goes back to its queue and, refused again, comes back at once.
    let request = Request::post("/_gateway/dead-letters/redrive")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&gw, request).await.2["redriven"], n);
    assert!(eventually(10, || counts(&gw).3 == 2 * n).await);
    eventually(10, || counts(&gw).2 == 2 * n).await;
    assert_eq!(counts(&gw), (2 * n, 0, 2 * n, 2 * n));
    assert_eq!(gw.state.queues().dead_letters().len() as u64, n);
    gw.stop().await;
}

/// A signed SQS request to `gw` through `app(state)`: `target`, the JSON `body`, signed for
/// `service`.
fn sqs_request(gw: &TestGateway, target: &str, body: &Value, service: &str) -> Request<Body> {
    let body = body.to_string();
    let url = gw.http();
    let host = url.trim_start_matches("http://");
    let content_type = "application/x-amz-json-1.0";
    let signed = SignedParts {
        service,
        method: "POST",
        host,
        path_and_query: "/",
        headers: &[("content-type", content_type), ("x-amz-target", target)],
        body: body.as_bytes(),
    };
    let mut request = Request::post("/")
        .header("host", host)
        .header("content-type", content_type)
        .header("x-amz-target", target);
    for (name, value) in sigv4_headers_for(&signed, SystemTime::now()) {
        request = request.header(name, value);
    }
    request.body(Body::from(body)).expect("request")
}

fn send_message(gw: &TestGateway, body: &Value) -> Request<Body> {
    sqs_request(gw, "AmazonSQS.SendMessage", body, "sqs")
}

/// The URL of the gateway's dead-letter queue for "Entity Updated".
fn dead_letter_queue_url(gw: &TestGateway) -> String {
    let queue = gw.state.queues().all()[0].clone();
    queue.dead_letter_url(&gw.http())
}

/// SQS's digest of message attributes, from its documented encoding: per attribute in name
/// order, the length-prefixed name and data type, transport byte 1 (string), the
/// length-prefixed value.
fn documented_md5_of_string_attributes(attributes: &[(&str, &str, &str)]) -> String {
    let mut sorted = attributes.to_vec();
    sorted.sort();
    let mut bytes = Vec::new();
    for (name, data_type, value) in sorted {
        for (i, field) in [name, data_type, value].into_iter().enumerate() {
            if i == 2 {
                bytes.push(1u8);
            }
            bytes.extend((field.len() as u32).to_be_bytes());
            bytes.extend(field.as_bytes());
        }
    }
    format!("{:x}", md5::Md5::digest(&bytes))
}

#[tokio::test]
async fn send_message_puts_the_message_and_its_reason_in_the_dead_letter_queue() {
    let gw = gateway().await;
    let body = r#"{"not": "an EventBridge event", "n": 1E2}"#;
    let request = json!({
        "QueueUrl": dead_letter_queue_url(&gw),
        "MessageBody": body,
        "MessageAttributes": {
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": "why it failed"},
            "ERROR_CODE": {"DataType": "String", "StringValue": "TestCode"},
        },
    });
    let (status, headers, answer) = call(&gw, send_message(&gw, &request)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(headers["content-type"], "application/x-amz-json-1.0");
    assert_eq!(
        answer["MD5OfMessageBody"],
        format!("{:x}", md5::Md5::digest(body.as_bytes()))
    );
    assert_eq!(
        answer["MD5OfMessageAttributes"],
        documented_md5_of_string_attributes(&[
            ("ERROR_MESSAGE", "String", "why it failed"),
            ("ERROR_CODE", "String", "TestCode"),
        ])
    );
    let listing = dead_letter_listing(&gw).await;
    assert_eq!(listing.len(), 1);
    let dead = &listing[0];
    assert_eq!(dead["messageId"], answer["MessageId"]);
    assert_eq!(dead["queue"], "entity-updated-dlq");
    assert_eq!(dead["body"], body, "the body exactly as sent");
    assert_eq!(dead["errorCode"], "TestCode");
    assert_eq!(dead["lastError"], "why it failed");

    // Redriven, the events function receives it, cannot read it as an event and sends it back
    // at once, with its own reason.
    let redrive = Request::post("/_gateway/dead-letters/redrive")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&gw, redrive).await.2["redriven"], 1);
    let refused_again = || {
        gw.state
            .queues()
            .dead_letters()
            .first()
            .is_some_and(|d| d.error_code.as_deref() == Some("InvalidEvent"))
    };
    assert!(eventually(10, refused_again).await);
    let dead = gw.state.queues().dead_letters().remove(0);
    assert!(
        dead.last_error.contains("is not an EventBridge event"),
        "{dead:?}"
    );
    assert_eq!(dead.body, body);
    gw.stop().await;
}

#[tokio::test]
async fn send_message_refuses_what_sqs_refuses() {
    let gw = gateway().await;
    let queue_url = dead_letter_queue_url(&gw);
    let main_queue_url = queue_url.trim_end_matches("-dlq").to_string();
    let attribute = json!({"DataType": "String", "StringValue": "v"});
    let eleven: BTreeMap<String, Value> = (0..11)
        .map(|i| (format!("a{i}"), attribute.clone()))
        .collect();
    let cases = [
        (
            json!({"QueueUrl": "http://127.0.0.1:9/000000000000/nope", "MessageBody": "x"}),
            "QueueDoesNotExist",
        ),
        (
            json!({"QueueUrl": main_queue_url, "MessageBody": "x"}),
            "QueueDoesNotExist",
        ),
        (json!({"MessageBody": "x"}), "MissingParameter"),
        (json!({"QueueUrl": queue_url}), "MissingParameter"),
        (
            json!({"QueueUrl": queue_url, "MessageBody": ""}),
            "MissingParameter",
        ),
        (
            json!({"QueueUrl": queue_url, "MessageBody": "bell \u{7}"}),
            "InvalidMessageContents",
        ),
        (
            json!({"QueueUrl": queue_url, "MessageBody": "x", "MessageAttributes": eleven}),
            "InvalidParameterValue",
        ),
        (
            json!({"QueueUrl": queue_url, "MessageBody": "x",
                   "MessageAttributes": {"a": {"DataType": "String"}}}),
            "InvalidParameterValue",
        ),
        (
            json!({"QueueUrl": queue_url, "MessageBody": "x",
                   "MessageAttributes": {"AWS.reserved": attribute}}),
            "InvalidParameterValue",
        ),
        (
            json!({"QueueUrl": queue_url, "MessageBody": "x",
                   "MessageAttributes": {"a": {"DataType": "Date", "StringValue": "v"}}}),
            "InvalidParameterValue",
        ),
    ];
    for (request, shape) in cases {
        let (status, headers, answer) = call(&gw, send_message(&gw, &request)).await;
        assert_eq!(status, 400, "{request}: {answer}");
        assert_eq!(
            answer["__type"],
            format!("com.amazonaws.sqs#{shape}"),
            "{request}"
        );
        assert_eq!(headers["content-type"], "application/x-amz-json-1.0");
        if shape == "QueueDoesNotExist" {
            assert_eq!(
                headers["x-amzn-query-error"],
                "AWS.SimpleQueueService.NonExistentQueue;Sender"
            );
            assert_eq!(answer["message"], "The specified queue does not exist.");
        }
    }
    let valid = json!({"QueueUrl": queue_url, "MessageBody": "x"});
    let other_operation = sqs_request(&gw, "AmazonSQS.ReceiveMessage", &valid, "sqs");
    let (status, _, answer) = call(&gw, other_operation).await;
    assert_eq!(
        (status, &answer["__type"]),
        (400, &json!("com.amazonaws.sqs#UnsupportedOperation"))
    );

    // The signature is SQS's: for the `sqs` service, by a key the gateway knows.
    let for_api_gateway = sqs_request(&gw, "AmazonSQS.SendMessage", &valid, "execute-api");
    let (status, headers, _) = call(&gw, for_api_gateway).await;
    assert_eq!(
        (status, &headers["x-amzn-errortype"]),
        (403, &"InvalidSignatureException".parse().expect("value"))
    );
    let unsigned = Request::post("/")
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from(valid.to_string()))
        .expect("request");
    let (status, headers, _) = call(&gw, unsigned).await;
    assert_eq!(
        (status, &headers["x-amzn-errortype"]),
        (
            403,
            &"MissingAuthenticationTokenException"
                .parse()
                .expect("value")
        )
    );
    assert!(
        gw.state.queues().dead_letters().is_empty(),
        "nothing was taken"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_runtimes_sqs_client_is_verified_and_answered_as_sqs_answers_it() {
    let gw = gateway().await;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let source = gw.state.queues().all()[0].arn().to_string();
    let routes = |url: String| BTreeMap::from([(source.clone(), url)]);
    let reason = Reason {
        code: "InvalidEvent".into(),
        message: "invalid event: a test".into(),
    };
    let letter = DeadLetter {
        source_queue_arn: &source,
        body: "{}",
        reason: &reason,
        push_batch: false,
    };
    let unknown =
        wspush_runtime::aws::dead_letters(&sdk, routes(format!("{}/000000000000/nope", gw.http())))
            .expect("a sender");
    match unknown.dead_letter(&letter).await {
        Err(DeadLetterError::NotSent { message, .. }) => {
            assert!(
                message.starts_with("QueueDoesNotExist (HTTP 400)"),
                "{message}"
            )
        }
        other => panic!("refused as SQS refuses it: {other:?}"),
    }
    let known = wspush_runtime::aws::dead_letters(&sdk, routes(dead_letter_queue_url(&gw)))
        .expect("a sender");
    assert_eq!(known.dead_letter(&letter).await, Ok(()));
    let dead = gw.state.queues().dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].error_code.as_deref(),
            dead[0].last_error.as_str(),
            dead[0].body.as_str()
        ),
        (Some("InvalidEvent"), "invalid event: a test", "{}")
    );
    gw.stop().await;
}
