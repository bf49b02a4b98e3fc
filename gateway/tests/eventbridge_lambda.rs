//! PutEvents and Lambda Invoke: the HTTP answers through `app(state)`, the pushes through a
//! real server and real sockets.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{json, Value};

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
    let identity = gw.keys.verify(&token, now()).expect("verifies");
    assert_eq!(identity.user_id, "myuserid");

    let (_, _, body) = call(&gw, invoke("CreateTestJwt", r#"{"userId":"zoe"}"#)).await;
    let token = body["token"].as_str().expect("token");
    assert_eq!(
        gw.keys.verify(token, now()).expect("verifies").user_id,
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
