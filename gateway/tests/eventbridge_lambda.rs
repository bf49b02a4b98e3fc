//! PutEvents and Lambda Invoke: the HTTP answers through `app(state)`, the pushes through a
//! real server and real sockets.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{json, Value};
use wspush_contract::nesting::{MAX_DETAIL_DEPTH, MAX_MESSAGE_DEPTH};
use wspush_gateway::GatewayConfig;
use wspush_runtime::config::PushClient;

#[tokio::test]
async fn put_events_pushes_to_subscribers_and_reports_entries_one_by_one() {
    let gw = TestGateway::start().await;
    let mut subscriber = gw.connect("u1").await;
    let mut bystander = gw.connect("u2").await;
    send_json(
        &mut subscriber,
        json!({"action": "subscribe", "entityId": "E"}),
    )
    .await;
    assert_eq!(next_json(&mut subscriber, 5).await["type"], "Subscribed");

    let (status, headers, body) = call(
        &gw,
        put_events_request(json!([
            {"Source": "test", "DetailType": "Entity Updated",
             "Detail": "{\"entityId\":\"E\",\"message\":\"hello\"}"},
            {"Source": "test", "DetailType": "Entity Updated", "Detail": "[1,2]"},
            {"Source": "test", "DetailType": "Entity Updated", "Detail": "not json"},
            {"DetailType": "Entity Updated", "Detail": "{}"},
        ])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(body["FailedEntryCount"], 3);
    let entries = body["Entries"].as_array().expect("entries");
    let event_id = entries[0]["EventId"]
        .as_str()
        .expect("event id")
        .to_string();
    assert_eq!(entries[1]["ErrorCode"], "MalformedDetail");
    assert_eq!(entries[2]["ErrorCode"], "MalformedDetail");
    assert_eq!(entries[3]["ErrorCode"], "InvalidArgument");

    let push = next_json(&mut subscriber, 5).await;
    assert_eq!(push["type"], "Entity Updated");
    assert_eq!(push["entityId"], "E");
    assert_eq!(push["message"], "hello");
    assert_eq!(push["eventId"], event_id.as_str());
    assert!(silent_for(&mut bystander, 300).await);
    assert!(silent_for(&mut subscriber, 300).await, "exactly one frame");
    gw.stop().await;
}

#[tokio::test]
async fn user_notifications_reach_every_connection_of_the_user() {
    let gw = TestGateway::start().await;
    let mut first = gw.connect("myuserid").await;
    let mut second = gw.connect("myuserid").await;
    let mut other = gw.connect("someone-else").await;
    assert!(eventually(2, || gw.store.connection_count() == 3).await);
    let (status, _, body) = call(
        &gw,
        put_events_request(json!([{"Source": "test", "DetailType": "Send User Push Notification",
            "Detail": "{\"userId\":\"myuserid\",\"message\":\"hi\",\"callback\":\"https://example.com\"}"}])),
    )
    .await;
    assert_eq!((status, body["FailedEntryCount"].clone()), (200, json!(0)));
    for socket in [&mut first, &mut second] {
        let push = next_json(socket, 5).await;
        assert_eq!(push["type"], "User Push Notification");
        assert_eq!(push["callback"], "https://example.com");
    }
    assert!(silent_for(&mut other, 300).await);
    gw.stop().await;
}

#[tokio::test]
async fn json_api_errors_have_the_aws_shape() {
    let gw = TestGateway::start().await;
    let (status, headers, body) = call(
        &gw,
        Request::post("/")
            .header("x-amz-target", "AWSEvents.ListRules")
            .body(Body::from("{}"))
            .expect("request"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
    assert_eq!(
        headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("UnknownOperationException")
    );
    let (status, _, body) = call(
        &gw,
        Request::post("/")
            .header("x-amz-target", "AWSEvents.PutEvents")
            .body(Body::from("{not json"))
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"Source": "s", "DetailType": "d", "Detail": "{}"}))
        .collect();
    let (status, _, body) = call(&gw, put_events_request(Value::Array(eleven))).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    gw.stop().await;
}

#[tokio::test]
async fn create_test_jwt_mints_a_token_that_connects() {
    let gw = TestGateway::start().await;
    let invoke = |name: &str, payload: &str| {
        Request::post(format!("/2015-03-31/functions/{name}/invocations"))
            .body(Body::from(payload.to_string()))
            .expect("request")
    };
    let (status, _, body) = call(&gw, invoke("CreateTestJwt", "")).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().expect("token").to_string();
    assert_eq!(body["authToken"], token.as_str());
    let identity = gw.keys.verify(&token, now()).await.expect("verifies");
    assert_eq!(identity.user_id, "myuserid");

    let (_, _, body) = call(&gw, invoke("CreateTestJwt", r#"{"userId":"zoe"}"#)).await;
    let token = body["token"].as_str().expect("token");
    assert_eq!(
        gw.keys
            .verify(token, now())
            .await
            .expect("verifies")
            .user_id,
        "zoe"
    );
    let url = format!("{}?access_token={token}", gw.ws_url());
    assert!(connect_raw(&url, None).await.is_ok());

    let (status, headers, body) = call(&gw, invoke("Other", "{}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("ResourceNotFoundException")
    );
    assert!(body["Message"]
        .as_str()
        .is_some_and(|m| m.contains("function:Other")));

    let (status, _, _) = call(&gw, invoke("CreateTestJwt", "{oops")).await;
    assert_eq!(status, 400);
    let (status, headers, body) = call(&gw, invoke("CreateTestJwt", r#"{"bogus":1}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok()),
        Some("Unhandled")
    );
    assert!(body["errorMessage"].is_string());
    gw.stop().await;
}

/// `message` values whose JSON text a parse into `serde_json::Value` would change (the last two
/// are the bounds of the integers PutEvents accepts).
const EXACT_MESSAGES: [&str; 5] = [
    "0.1000000000000000055511151231257827",
    "1E2",
    r#"{ "n" : [1E2 ,-0.0e+00,	0.1000000000000000055511151231257827],
  "s":"caf\u00e9 \"q\" \/ \ud83d\ude00\n", "s":"the last of two" }"#,
    "-9223372036854775808",
    "9223372036854775807",
];

/// Integers beyond a signed 64-bit integer, which PutEvents documents it does not accept.
const OUT_OF_RANGE: [&str; 2] = ["123456789012345678901234567890", "-9223372036854775809"];

/// An epoch second for the entries' `Time`, and the `time` the frames carry for it.
const TIME: i64 = 1_795_000_000;

fn frame_time() -> String {
    chrono::DateTime::from_timestamp(TIME, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn entry(detail_type: &str, detail: String) -> Value {
    json!({"Source": "backend", "DetailType": detail_type, "Detail": detail, "Time": TIME})
}

/// The frames a subscriber of `E` and the connection of user `u` receive, as they arrive.
async fn frames_received(gw: &TestGateway, entries: Vec<Value>) -> (Value, Vec<String>) {
    let mut client = gw.connect("u").await;
    send_json(&mut client, json!({"action": "subscribe", "entityId": "E"})).await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
    let (status, _, body) = call(gw, put_events_request(Value::Array(entries))).await;
    assert_eq!(status, 200);
    let accepted = body["Entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["EventId"].is_string())
        .count();
    let mut frames = Vec::new();
    for _ in 0..accepted {
        frames.push(next_text(&mut client, 5).await);
    }
    assert!(silent_for(&mut client, 300).await, "one frame per event");
    (body, frames)
}

/// The backend's `message`, `callback` and `entityId` reach clients byte for byte, numbers and
/// escapes as written, through either push client; integers PutEvents does not accept are
/// refused there, naming the integer, instead of arriving changed.
#[tokio::test]
async fn messages_reach_clients_byte_for_byte_with_both_push_clients() {
    for push_client in [PushClient::SignedHttp, PushClient::Sdk] {
        let gw = TestGateway::start_with(GatewayConfig {
            push_client,
            ..GatewayConfig::default()
        })
        .await;
        let callback = r#""https:\/\/example.com\/n?q=caf\u00e9""#;
        let mut entries: Vec<Value> = EXACT_MESSAGES
            .iter()
            .map(|m| {
                entry(
                    "Entity Updated",
                    format!(r#"{{"entityId":"E","message":{m}}}"#),
                )
            })
            .collect();
        entries.push(entry(
            "Send User Push Notification",
            format!(
                r#"{{"userId":"u","message":{},"callback":{callback}}}"#,
                EXACT_MESSAGES[2]
            ),
        ));
        entries.extend(OUT_OF_RANGE.iter().map(|n| {
            entry(
                "Entity Updated",
                format!(r#"{{"entityId":"E","message":{{"n":{n}}}}}"#),
            )
        }));
        let (body, frames) = frames_received(&gw, entries).await;

        let results = body["Entries"].as_array().expect("entries");
        let event_id = |i: usize| {
            results[i]["EventId"]
                .as_str()
                .expect("accepted")
                .to_string()
        };
        let time = frame_time();
        let mut expected: Vec<String> = EXACT_MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    r#"{{"type":"Entity Updated","entityId":"E","message":{m},"eventId":"{}","time":"{time}"}}"#,
                    event_id(i)
                )
            })
            .collect();
        expected.push(format!(
            r#"{{"type":"User Push Notification","message":{},"callback":{callback},"eventId":"{}","time":"{time}"}}"#,
            EXACT_MESSAGES[2],
            event_id(EXACT_MESSAGES.len())
        ));
        expected.sort();
        let mut serials: Vec<u64> = frames.iter().map(|f| position(f).1).collect();
        serials.sort_unstable();
        assert_eq!(
            serials,
            [1, 1, 2, 3, 4, 5],
            "entity E's five and user u's one"
        );
        let mut frames: Vec<String> = frames.iter().map(|f| position(f).0).collect();
        frames.sort();
        assert_eq!(frames, expected, "{push_client:?}");

        assert_eq!(body["FailedEntryCount"], OUT_OF_RANGE.len());
        for (result, n) in results[EXACT_MESSAGES.len() + 1..].iter().zip(OUT_OF_RANGE) {
            assert_eq!(result["ErrorCode"], "MalformedDetail");
            let message = result["ErrorMessage"].as_str().expect("a reason");
            assert!(
                message.contains(n) && message.contains("outside the range"),
                "{message}"
            );
        }
        gw.stop().await;
    }
}

/// The deepest `message` the events function reads is delivered; one level deeper is refused
/// at PutEvents, saying why, instead of being accepted and dead-lettered.
#[tokio::test]
async fn nesting_the_runtime_cannot_read_is_refused_at_put_events() {
    let gw = TestGateway::start().await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let detail = |depth: usize| format!(r#"{{"entityId":"E","message":{}}}"#, nested(depth));
    let entries = vec![
        entry("Entity Updated", detail(MAX_MESSAGE_DEPTH)),
        entry("Entity Updated", detail(MAX_MESSAGE_DEPTH + 1)),
    ];
    let (body, frames) = frames_received(&gw, entries).await;
    assert_eq!(frames.len(), 1);
    assert!(
        frames[0].contains(&format!(r#""message":{},"#, nested(MAX_MESSAGE_DEPTH))),
        "the deepest message arrives whole"
    );
    let refused = &body["Entries"][1];
    assert_eq!(body["FailedEntryCount"], 1);
    assert_eq!(refused["ErrorCode"], "MalformedDetail");
    let message = refused["ErrorMessage"].as_str().expect("a reason");
    let depth = MAX_MESSAGE_DEPTH + 2;
    assert!(
        message.contains(&format!("nests {depth} levels"))
            && message.contains(&format!("at most {MAX_DETAIL_DEPTH}")),
        "{message}"
    );
    assert!(gw.state.queues().dead_letters().is_empty());
    gw.stop().await;
}

/// A push frame split into the frame without its stream position (`{"streamId":…,"serial":N,`
/// leads it) and the serial.
fn position(frame: &str) -> (String, u64) {
    let rest = frame
        .strip_prefix(r#"{"streamId":""#)
        .expect("a push leads with its stream position");
    let (_, rest) = rest.split_once(r#"","serial":"#).expect("a serial");
    let (serial, members) = rest.split_once(',').expect("members after the serial");
    (
        format!("{{{members}"),
        serial.parse().expect("a whole serial"),
    )
}
