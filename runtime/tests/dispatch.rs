//! Dispatch over realistic event JSON: every shape AWS sends is classified correctly and
//! handled end to end (in-memory store, real SDK client against a wire-level fake
//! `@connections` API).

mod support;

use std::sync::Arc;

use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use support::{fixture, keys, now, runtime, FakeConnections};
use wspush_contract::event_kinds;
use wspush_runtime::auth::TestTokenRequest;
use wspush_runtime::event::classify;
use wspush_runtime::event_kind::EventKinds;
use wspush_runtime::store::{ConnectionStore, MemoryStore};
use wspush_runtime::HandlerError;

const CONNECTION: &str = "SmL1KdNCoAMCKdw=";

fn kind_of(event: Value) -> Result<&'static str, String> {
    classify(event)
        .map(|i| i.kind().name())
        .map_err(|e| e.to_string())
}

#[test]
fn every_fixture_is_classified_by_its_shape() {
    let expected = [
        ("authorizer-request.json", "authorizer"),
        ("websocket-connect.json", "websocket"),
        ("websocket-disconnect.json", "websocket"),
        ("websocket-subscribe.json", "websocket"),
        ("websocket-unsubscribe.json", "websocket"),
        ("websocket-ping.json", "websocket"),
        ("websocket-default.json", "websocket"),
        ("eventbridge-entity-updated.json", "eventbridge"),
        ("eventbridge-user-push.json", "eventbridge"),
        ("sqs-eventbridge-batch.json", "sqs"),
        ("test-token-empty.json", "test-token"),
        ("test-token-overrides.json", "test-token"),
    ];
    for (file, kind) in expected {
        assert_eq!(kind_of(fixture(file)), Ok(kind), "{file}");
    }
}

#[test]
fn unknown_shapes_are_clear_errors() {
    let s3 = kind_of(fixture("unknown-s3.json")).expect_err("s3 records are not ours");
    assert!(s3.contains("aws:sqs"), "{s3}");
    let other = kind_of(json!({"foo": 1})).expect_err("unknown object");
    assert!(
        other.contains("foo") && other.contains("no known shape"),
        "{other}"
    );
    let scalar = kind_of(json!("hello")).expect_err("a string");
    assert!(scalar.contains("a string"), "{scalar}");
    let broken = kind_of(json!({"type": "REQUEST", "methodArn": 7})).expect_err("bad authorizer");
    assert!(
        broken.contains("authorizer event does not parse"),
        "{broken}"
    );
}

fn body_of(response: &Value) -> Value {
    let body = response["body"]
        .as_str()
        .expect("route response has a body");
    serde_json::from_str(body).expect("body is JSON")
}

fn with_token(mut event: Value, token: &str) -> Value {
    event["queryStringParameters"]["access_token"] = json!(token);
    event
}

#[tokio::test]
async fn a_client_lifecycle_runs_through_every_route() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    let rt = runtime(Arc::new(store.clone()), &connections, false).await;

    let token = keys()
        .mint(&TestTokenRequest::default(), now())
        .expect("mint");
    let allowed = rt
        .handle(with_token(fixture("authorizer-request.json"), &token))
        .await
        .expect("allowed");
    assert_eq!(allowed["principalId"], "myuserid");
    assert_eq!(allowed["context"]["userId"], "myuserid");

    let connected = rt
        .handle(fixture("websocket-connect.json"))
        .await
        .expect("$connect");
    assert_eq!(connected["statusCode"], 200);
    let record = store.connection(CONNECTION).expect("connection stored");
    assert_eq!(record.user_id, "myuserid");
    assert_eq!(record.ip_address.as_deref(), Some("192.0.2.1"));
    assert_eq!(record.connected_at_ms, 1707502303419);
    assert!(
        record.expires_at > now() + 2 * 3600,
        "TTL outlives the 2 h maximum connection"
    );

    let subscribed = rt
        .handle(fixture("websocket-subscribe.json"))
        .await
        .expect("subscribe");
    assert_eq!(
        body_of(&subscribed),
        json!({"type": "Subscribed", "entityId": "myEntityId", "streamId": null, "serial": 0})
    );
    assert_eq!(
        support::ids(store.subscribers("myEntityId").await.expect("query")),
        vec![CONNECTION]
    );

    let pong = rt
        .handle(fixture("websocket-ping.json"))
        .await
        .expect("ping");
    assert_eq!(body_of(&pong), json!({"type": "Pong"}));

    let error = body_of(
        &rt.handle(fixture("websocket-default.json"))
            .await
            .expect("$default"),
    );
    assert_eq!(error["type"], "Error");
    assert!(error["message"]
        .as_str()
        .unwrap_or("")
        .contains("subscribe, unsubscribe, ping"));

    let tally = rt
        .handle(fixture("eventbridge-entity-updated.json"))
        .await
        .expect("entity updated");
    assert_eq!(
        tally,
        json!({"recipients": 1, "delivered": 1, "gone": 0, "failed": 0, "expired": 0, "throttled": 0, "queued": 0, "batches": 0})
    );
    let tally = rt
        .handle(fixture("eventbridge-user-push.json"))
        .await
        .expect("user push");
    assert_eq!(tally["delivered"], 1);
    let mut delivered = connections.delivered(CONNECTION);
    for push in &mut delivered {
        let position = push.as_object_mut().expect("a push is an object");
        assert_eq!(
            position.remove("serial"),
            Some(json!(1)),
            "each stream's first"
        );
        assert!(position.remove("streamId").is_some_and(|id| id.is_string()));
    }
    assert_eq!(
        delivered,
        vec![
            json!({"type": "Entity Updated", "entityId": "myEntityId",
                   "message": "Something changed on myEntityId",
                   "eventId": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "time": "2026-11-24T03:00:00Z"}),
            json!({"type": "User Push Notification", "message": "You have a new notification",
                   "callback": "https://example.com/notifications/1",
                   "eventId": "9f3c1b2a-5d4e-4f60-8a7b-0c1d2e3f4a5b", "time": "2026-11-24T03:00:05Z"}),
        ]
    );

    let unsubscribed = rt
        .handle(fixture("websocket-unsubscribe.json"))
        .await
        .expect("unsubscribe");
    assert_eq!(
        body_of(&unsubscribed),
        json!({"type": "Unsubscribed", "entityId": "myEntityId"})
    );
    let again = rt
        .handle(fixture("websocket-unsubscribe.json"))
        .await
        .expect("idempotent");
    assert_eq!(body_of(&again)["type"], "Unsubscribed");
    let tally = rt
        .handle(fixture("eventbridge-entity-updated.json"))
        .await
        .expect("no subscribers");
    assert_eq!(tally["recipients"], 0);
    assert_eq!(
        connections.delivered(CONNECTION).len(),
        2,
        "no push after unsubscribe"
    );

    rt.handle(fixture("websocket-subscribe.json"))
        .await
        .expect("subscribe again");
    let gone = rt
        .handle(fixture("websocket-disconnect.json"))
        .await
        .expect("$disconnect");
    assert_eq!(gone["statusCode"], 200);
    assert_eq!(store.connection_count(), 0);
    assert!(store
        .subscribers("myEntityId")
        .await
        .expect("query")
        .is_empty());
    assert!(store
        .user_connections("myuserid")
        .await
        .expect("query")
        .is_empty());
}

#[tokio::test]
async fn refused_connects_surface_as_unauthorized() {
    let connections = FakeConnections::start().await;
    let rt = runtime(Arc::new(MemoryStore::new()), &connections, false).await;
    let err = rt
        .handle(fixture("authorizer-request.json"))
        .await
        .expect_err("no token");
    assert!(matches!(err, HandlerError::Unauthorized(_)));
    let diagnostic = Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_message, "Unauthorized",
        "API Gateway maps exactly this to 401"
    );
}

#[tokio::test]
async fn connect_without_authorizer_context_is_refused_and_not_stored() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    let rt = runtime(Arc::new(store.clone()), &connections, false).await;
    let mut event = fixture("websocket-connect.json");
    event["requestContext"]
        .as_object_mut()
        .expect("context")
        .remove("authorizer");
    let response = rt.handle(event).await.expect("handled");
    assert_eq!(response["statusCode"], 401);
    assert_eq!(store.connection_count(), 0);
}

#[tokio::test]
async fn invalid_events_are_rejected_with_reasons() {
    let connections = FakeConnections::start().await;
    let rt = runtime(Arc::new(MemoryStore::new()), &connections, false).await;
    let mut event = fixture("eventbridge-entity-updated.json");
    let cases = [
        (json!({"message": "m"}), "entityId"),
        (json!({"entityId": "", "message": "m"}), "entityId"),
        (json!("a string"), "JSON object"),
        (
            json!({"entityId": "e", "message": "x".repeat(130 * 1024)}),
            "128",
        ),
    ];
    for (detail, reason) in cases {
        event["detail"] = detail;
        let err = rt.handle(event.clone()).await.expect_err("invalid");
        assert!(err.is_permanent(), "{err}");
        assert!(
            err.to_string().contains(reason),
            "{err} should mention {reason}"
        );
    }
    // Like the quick start, a missing message is allowed: the frame simply has none.
    event["detail"] = json!({"entityId": "nobody-subscribed"});
    assert_eq!(
        rt.handle(event.clone()).await.expect("valid")["recipients"],
        0
    );
    let mut unknown = fixture("eventbridge-entity-updated.json");
    unknown["detail-type"] = json!("Something Else");
    let err = rt.handle(unknown).await.expect_err("no rule");
    assert!(err.to_string().contains("Something Else"), "{err}");
    let mut user = fixture("eventbridge-user-push.json");
    user["detail"]["userId"] = json!(42);
    assert!(rt
        .handle(user)
        .await
        .expect_err("bad user")
        .to_string()
        .contains("userId"));
}

#[tokio::test]
async fn sqs_batches_report_only_the_failed_records() {
    let connections = FakeConnections::start().await;
    let store = MemoryStore::new();
    let rt = runtime(Arc::new(store.clone()), &connections, false).await;
    rt.handle(fixture("websocket-connect.json"))
        .await
        .expect("$connect");
    rt.handle(fixture("websocket-subscribe.json"))
        .await
        .expect("subscribe");

    let response = rt
        .handle(fixture("sqs-eventbridge-batch.json"))
        .await
        .expect("batch handled");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
    assert_eq!(
        connections.delivered(CONNECTION).len(),
        1,
        "the valid record was delivered"
    );

    let mut garbled = fixture("sqs-eventbridge-batch.json");
    garbled["Records"][0]["body"] = json!("not json");
    let response = rt.handle(garbled).await.expect("batch handled");
    assert_eq!(
        response["batchItemFailures"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn test_tokens_only_where_enabled() {
    let connections = FakeConnections::start().await;
    let main_function = runtime(Arc::new(MemoryStore::new()), &connections, false).await;
    let err = main_function
        .handle(json!({}))
        .await
        .expect_err("main function refuses");
    assert!(matches!(err, HandlerError::TestTokensDisabled));
    assert!(err.to_string().contains("TEST_TOKENS_ENABLED"));

    let create_test_jwt = runtime(Arc::new(MemoryStore::new()), &connections, true).await;
    let minted = create_test_jwt
        .handle(fixture("test-token-empty.json"))
        .await
        .expect("minted");
    assert_eq!(minted["token"], minted["authToken"]);
    let token = minted["token"].as_str().expect("token string");
    assert_eq!(
        keys().verify(token, now()).await.expect("verifies").user_id,
        "myuserid"
    );

    let minted = create_test_jwt
        .handle(fixture("test-token-overrides.json"))
        .await
        .expect("minted");
    let identity = keys()
        .verify(minted["token"].as_str().expect("token"), now())
        .await
        .expect("verifies");
    assert_eq!(identity.user_id, "alice");
    assert_eq!(identity.last_name.as_deref(), Some("Liddell"));
    assert_eq!(identity.sub.as_deref(), Some("alice-sub"));
}

#[tokio::test]
async fn connect_returns_the_subprotocol_only_when_offered() {
    let connections = FakeConnections::start().await;
    let rt = runtime(Arc::new(MemoryStore::new()), &connections, false).await;
    let protocol = |answer: &Value| answer["headers"]["sec-websocket-protocol"].clone();

    let plain = rt
        .handle(fixture("websocket-connect.json"))
        .await
        .expect("$connect");
    assert_eq!(
        protocol(&plain),
        Value::Null,
        "nothing offered, nothing returned"
    );

    for offered in ["websocket, a.b.c", "websocket", "graphql-ws, websocket"] {
        let mut event = fixture("websocket-connect.json");
        event["headers"]["Sec-WebSocket-Protocol"] = json!(offered);
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!([offered]);
        let answer = rt.handle(event).await.expect("$connect");
        assert_eq!(protocol(&answer), json!("websocket"), "offered {offered:?}");
    }

    let mut other = fixture("websocket-connect.json");
    other["headers"]["Sec-WebSocket-Protocol"] = json!("graphql-ws");
    other["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!(["graphql-ws"]);
    let answer = rt.handle(other).await.expect("$connect");
    assert_eq!(
        protocol(&answer),
        Value::Null,
        "only websocket is ever selected"
    );
}

/// Every deployed function serves its own kinds and refuses every other shape with a clear,
/// permanent error, before any handler runs.
#[tokio::test]
async fn each_function_refuses_every_other_shape() {
    let connections = FakeConnections::start().await;
    let shapes = [
        ("authorizer-request.json", event_kinds::AUTHORIZER),
        ("websocket-connect.json", event_kinds::WEBSOCKET),
        ("websocket-disconnect.json", event_kinds::WEBSOCKET),
        ("websocket-subscribe.json", event_kinds::WEBSOCKET),
        ("eventbridge-entity-updated.json", event_kinds::EVENTBRIDGE),
        ("sqs-eventbridge-batch.json", event_kinds::SQS),
        ("test-token-overrides.json", event_kinds::TEST_TOKEN),
    ];
    let functions: [(&str, &[&str]); 4] = [
        ("authorizer", &event_kinds::AUTHORIZER_FUNCTION),
        ("routes", &event_kinds::ROUTES_FUNCTION),
        ("events", &event_kinds::EVENTS_FUNCTION),
        ("CreateTestJwt", &event_kinds::TEST_TOKEN_FUNCTION),
    ];
    for (function, serves) in functions {
        let store = MemoryStore::new();
        let deps = runtime(Arc::new(store.clone()), &connections, true)
            .await
            .into_deps()
            .expect("sole owner");
        let kinds = EventKinds::parse(&serves.join(",")).expect("contract lists are valid");
        let rt = wspush_runtime::Runtime::serving(deps, kinds);
        for (file, kind) in shapes {
            let result = rt.handle(fixture(file)).await;
            if serves.contains(&kind) {
                if let Err(HandlerError::NotServed { .. }) = result {
                    panic!("{function} must serve {file}");
                }
                continue;
            }
            let err = result.expect_err(&format!("{function} must refuse {file}"));
            assert!(
                matches!(err, HandlerError::NotServed { .. }) && err.is_permanent(),
                "{function} / {file}: {err}"
            );
            assert!(err.to_string().contains(kind), "{err}");
            assert_eq!(Diagnostic::from(err).error_type, "EventNotServed");
        }
        assert!(
            store.connection(CONNECTION).is_none() || serves.contains(&event_kinds::WEBSOCKET),
            "{function} wrote a connection record"
        );
    }
}
