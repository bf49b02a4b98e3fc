//! Virtual connections: ids with no socket that `@connections` counts pushes for, behind the
//! same checks as a socket's (stage, signature, account throttle), registered, summed up and
//! removed through `/_gateway/virtual-connections`.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use axum::body::Body;
use axum::http::{Method, Request};
use common::*;
use serde_json::{json, Value};
use wspush_gateway::{GatewayConfig, Throttle};
use wspush_runtime::store::ConnectionStore;

const VIRTUAL: &str = "/_gateway/virtual-connections";

/// `POST /_gateway/virtual-connections` with `body`: the status and the answer.
async fn register(gw: &TestGateway, body: &str) -> (u16, Value) {
    let request = Request::post(VIRTUAL)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, answer) = call(gw, request).await;
    (status, answer)
}

async fn summary(gw: &TestGateway) -> Value {
    let request = Request::get(VIRTUAL).body(Body::empty()).expect("request");
    let (status, _, answer) = call(gw, request).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A request to `@connections` at `path`, signed as the runtime signs it when `signed`, to
/// this gateway's own address.
fn connections_request(gw: &TestGateway, method: Method, path: &str, body: &str) -> Request<Body> {
    let host = gw.addr.to_string();
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", &host);
    for (name, value) in sigv4_headers(
        method.as_str(),
        &host,
        path,
        body.as_bytes(),
        SystemTime::now(),
    ) {
        request = request.header(name, value);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

/// The status of a signed `POST` of `body` to `@connections` at `path`.
async fn post_status(gw: &TestGateway, path: &str, body: &str) -> u16 {
    call(gw, connections_request(gw, Method::POST, path, body))
        .await
        .0
}

#[tokio::test]
async fn registration_subscribes_each_id_and_answers_the_first_and_last() {
    let gw = TestGateway::start().await;
    let (status, answer) = register(&gw, r#"{"entityId": "E", "count": 3}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"registered": 3, "ids": ["virtual-0", "virtual-2"]})
    );
    let (_, more) = register(&gw, r#"{"entityId": "F", "count": 2}"#).await;
    assert_eq!(more["ids"], json!(["virtual-3", "virtual-4"]));
    let mut subscribers: Vec<String> = gw
        .store
        .subscribers("E")
        .await
        .expect("subscribers")
        .into_iter()
        .map(|r| r.connection_id)
        .collect();
    subscribers.sort();
    assert_eq!(subscribers, ["virtual-0", "virtual-1", "virtual-2"]);
    assert_eq!(
        summary(&gw).await,
        json!({"registered": 5, "delivered": 0, "missing": 5, "repeated": 0, "received": 0})
    );
    gw.stop().await;
}

#[tokio::test]
async fn bad_registrations_are_400_with_what_is_wrong() {
    let gw = TestGateway::start().await;
    for (body, says) in [
        ("not json", "must be JSON"),
        (r#"{"count": 3}"#, "\"entityId\" must be a non-empty string"),
        (r#"{"entityId": "", "count": 3}"#, "non-empty"),
        (r#"{"entityId": 7, "count": 3}"#, "non-empty string"),
        (r#"{"entityId": "E"}"#, "from 1 to 2000000"),
        (r#"{"entityId": "E", "count": 0}"#, "not 0"),
        (r#"{"entityId": "E", "count": 2000001}"#, "not 2000001"),
        (r#"{"entityId": "E", "count": -1}"#, "not -1"),
        (r#"{"entityId": "E", "count": "10"}"#, "from 1 to"),
    ] {
        let (status, answer) = register(&gw, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(summary(&gw).await["registered"], 0);
    assert_eq!(gw.store.census().map(|c| c.subscriptions), Some(0));
    gw.stop().await;
}

#[tokio::test]
async fn only_a_signed_post_is_counted() {
    let gw = TestGateway::start().await;
    register(&gw, r#"{"entityId": "E", "count": 2}"#).await;
    let path = "/production/@connections/virtual-0";

    let unsigned = Request::post(path)
        .header("host", gw.addr.to_string())
        .body(Body::from("hello"))
        .expect("request");
    let (status, _, answer) = call(&gw, unsigned).await;
    assert_eq!(status, 403, "{answer}");

    // Signed for another body than the one sent.
    let mut forged = connections_request(&gw, Method::POST, path, "hello");
    *forged.body_mut() = Body::from("other");
    let (status, _, answer) = call(&gw, forged).await;
    assert_eq!(status, 403, "{answer}");

    let other_stage = "/staging/@connections/virtual-0";
    assert_eq!(post_status(&gw, other_stage, "x").await, 403);
    assert_eq!(summary(&gw).await["received"], 0, "no refused call counted");

    assert_eq!(post_status(&gw, path, "hello").await, 200);
    let stageless = "/@connections/virtual-0";
    assert_eq!(post_status(&gw, stageless, "again").await, 200);
    assert_eq!(
        summary(&gw).await,
        json!({"registered": 2, "delivered": 1, "missing": 1, "repeated": 1, "received": 2})
    );
    let unknown = "/production/@connections/virtual-7";
    assert_eq!(post_status(&gw, unknown, "x").await, 410);
    gw.stop().await;
}

#[tokio::test]
async fn the_account_throttle_applies_and_a_throttled_post_is_not_counted() {
    let config = GatewayConfig {
        throttle: Some(Throttle {
            rate_per_sec: 0.01,
            burst: 2,
        }),
        ..GatewayConfig::default()
    };
    let gw = TestGateway::start_with(config).await;
    register(&gw, r#"{"entityId": "E", "count": 1}"#).await;
    let api = management(&gw);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let posted = api
            .post_to_connection()
            .connection_id("virtual-0")
            .data(Blob::new("hi"))
            .send()
            .await;
        statuses.push(match posted {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                let service = e.into_service_error();
                assert!(service.is_limit_exceeded_exception(), "{service:?}");
                "throttled".to_string()
            }
        });
    }
    assert_eq!(statuses, ["ok", "ok", "throttled", "throttled"]);
    assert_eq!(summary(&gw).await["received"], 2);
    gw.stop().await;
}

#[tokio::test]
async fn get_and_delete_through_the_sdk_and_gone_afterwards() {
    let gw = TestGateway::start().await;
    register(&gw, r#"{"entityId": "E", "count": 2}"#).await;
    let api = management(&gw);
    let facts = api
        .get_connection()
        .connection_id("virtual-1")
        .send()
        .await
        .expect("get");
    let connected = facts.connected_at().expect("connectedAt");
    let age = SystemTime::now()
        .duration_since(SystemTime::try_from(*connected).expect("a time"))
        .unwrap_or_default();
    assert!(age < Duration::from_secs(60), "{connected:?}");
    assert_eq!(
        facts.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );

    api.delete_connection()
        .connection_id("virtual-1")
        .send()
        .await
        .expect("delete");
    let gone = api
        .post_to_connection()
        .connection_id("virtual-1")
        .data(Blob::new("late"))
        .send()
        .await
        .expect_err("gone");
    assert!(
        matches!(
            gone.as_service_error(),
            Some(PostToConnectionError::GoneException(_))
        ),
        "{gone:?}"
    );
    assert!(api
        .get_connection()
        .connection_id("virtual-1")
        .send()
        .await
        .is_err());
    assert!(api
        .delete_connection()
        .connection_id("virtual-1")
        .send()
        .await
        .is_err());
    let subscribers = gw.store.subscribers("E").await.expect("subscribers");
    assert_eq!(
        subscribers
            .iter()
            .map(|r| r.connection_id.as_str())
            .collect::<Vec<_>>(),
        ["virtual-0"],
        "the deleted id's subscription left the store"
    );
    assert_eq!(summary(&gw).await["registered"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_fan_out_reaches_virtual_and_real_subscribers_once_each() {
    let gw = TestGateway::start().await;
    let mut real = gw.connect("ruth").await;
    send_json(&mut real, json!({"action": "subscribe", "entityId": "E"})).await;
    assert_eq!(next_json(&mut real, 5).await["type"], "Subscribed");
    register(&gw, r#"{"entityId": "E", "count": 50}"#).await;
    register(&gw, r#"{"entityId": "other", "count": 5}"#).await;

    let (status, _, answer) = call(
        &gw,
        put_events_request(json!([{"Source": "test", "DetailType": "Entity Updated",
            "Detail": "{\"entityId\":\"E\",\"message\":\"hello\"}"}])),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(next_json(&mut real, 5).await["message"], "hello");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while summary(&gw).await["delivered"] != 50 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        summary(&gw).await,
        json!({"registered": 55, "delivered": 50, "missing": 5, "repeated": 0, "received": 50})
    );
    assert!(silent_for(&mut real, 300).await, "exactly one frame");

    let reset = Request::post(format!("{VIRTUAL}/reset"))
        .body(Body::empty())
        .expect("request");
    let (status, _, answer) = call(&gw, reset).await;
    assert_eq!(status, 200);
    assert_eq!(answer["received"], 0);
    assert_eq!(answer["registered"], 55);
    gw.stop().await;
}

#[tokio::test]
async fn delete_removes_every_virtual_connection_and_its_subscription() {
    let gw = TestGateway::start().await;
    register(&gw, r#"{"entityId": "E", "count": 3000}"#).await;
    assert_eq!(gw.store.census().map(|c| c.subscriptions), Some(3000));
    let request = Request::delete(VIRTUAL)
        .body(Body::empty())
        .expect("request");
    let (status, _, answer) = call(&gw, request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"removed": 3000}));
    assert_eq!(gw.store.census().map(|c| c.subscriptions), Some(0));
    assert_eq!(summary(&gw).await["registered"], 0);
    let path = "/production/@connections/virtual-5";
    assert_eq!(post_status(&gw, path, "x").await, 410);
    gw.stop().await;
}

#[tokio::test]
async fn another_origins_page_cannot_register() {
    let gw = TestGateway::start().await;
    let request = Request::post(VIRTUAL)
        .header("origin", "http://evil.example")
        .body(Body::from(r#"{"entityId": "E", "count": 3}"#))
        .expect("request");
    let (status, _, _) = call(&gw, request).await;
    assert_eq!(status, 403);
    assert_eq!(summary(&gw).await["registered"], 0);
    gw.stop().await;
}
