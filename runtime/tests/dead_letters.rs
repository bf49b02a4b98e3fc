//! An SQS record that can never succeed goes to its queue's dead-letter queue on its first
//! receive, with its reason, and its batch reports it done; a passing fault is still reported
//! for another receive; a dead letter that cannot be sent leaves the record for another
//! receive. The runtime sends with its real SQS client (a signed AWS JSON 1.0 `SendMessage`)
//! to a wire-level SQS stand-in on 127.0.0.1:0.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use support::{keys, quick_push_settings, FakeConnections, Served};
use wspush_runtime::config::PushClient;
use wspush_runtime::store::{ConnectionStore, MemoryStore};
use wspush_runtime::{aws, Deps, Runtime};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:entity-updated";
const CONNECTION: &str = "c1";

/// How the stand-in answers `SendMessage`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Answer {
    #[default]
    Accept,
    /// 400 `QueueDoesNotExist`, as SQS answers for an unknown queue URL.
    NoSuchQueue,
    /// 500, as SQS answers when it fails.
    Fail,
}

#[derive(Default)]
struct Seen {
    /// The JSON body of every well-formed, signed `SendMessage`.
    sent: Vec<Value>,
    /// Requests refused for their shape: what was wrong.
    malformed: Vec<String>,
}

/// SQS's JSON 1.0 endpoint, as much of it as `SendMessage` needs. Stops when dropped.
struct FakeSqs {
    served: Served,
    seen: Arc<Mutex<Seen>>,
    answer: Arc<Mutex<Answer>>,
}

type FakeState = (Arc<Mutex<Seen>>, Arc<Mutex<Answer>>);

/// What is wrong with a request's shape, if anything: the target, the content type, a SigV4
/// signature scoped to `sqs` in us-east-1.
fn malformed(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("x-amz-target") != "AmazonSQS.SendMessage" {
        return Some(format!("target {:?}", header("x-amz-target")));
    }
    if header("content-type") != "application/x-amz-json-1.0" {
        return Some(format!("content type {:?}", header("content-type")));
    }
    let authorization = header("authorization");
    if !authorization.starts_with("AWS4-HMAC-SHA256 Credential=local/")
        || !authorization.contains("/us-east-1/sqs/aws4_request")
    {
        return Some(format!("authorization {authorization:?}"));
    }
    None
}

async fn send_message(
    State((seen, answer)): State<FakeState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(problem) = malformed(&headers) {
        seen.lock().expect("lock").malformed.push(problem);
        return (StatusCode::BAD_REQUEST, "malformed").into_response();
    }
    let answer = *answer.lock().expect("lock");
    let error = |status: StatusCode, shape: &str| {
        let body =
            json!({"__type": format!("com.amazonaws.sqs#{shape}"), "message": "from the stand-in"});
        (status, body.to_string()).into_response()
    };
    match answer {
        Answer::NoSuchQueue => error(StatusCode::BAD_REQUEST, "QueueDoesNotExist"),
        Answer::Fail => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        Answer::Accept => {
            let request: Value = serde_json::from_slice(&body).expect("SendMessage body is JSON");
            seen.lock().expect("lock").sent.push(request);
            json!({"MessageId": "m-1", "MD5OfMessageBody": "-"})
                .to_string()
                .into_response()
        }
    }
}

impl FakeSqs {
    async fn start() -> Self {
        let state: FakeState = Default::default();
        let app = Router::new()
            .route("/", post(send_message))
            .with_state(state.clone());
        Self {
            served: Served::start(app).await,
            seen: state.0,
            answer: state.1,
        }
    }

    fn dead_letter_queue_url(&self) -> String {
        format!("{}/000000000000/entity-updated-dlq", self.served.url)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    fn sent(&self) -> Vec<Value> {
        let seen = self.seen.lock().expect("lock");
        assert!(seen.malformed.is_empty(), "malformed: {:?}", seen.malformed);
        seen.sent.clone()
    }
}

/// The events function: pushing to `connections`, dead-lettering records of [`QUEUE_ARN`] to
/// the stand-in's queue (unless `routes` is false), `CONNECTION` subscribed to `e1`.
async fn events_function(connections: &FakeConnections, sqs: &FakeSqs, routes: bool) -> Runtime {
    let sdk = aws::local_sdk_config("us-east-1");
    let store = MemoryStore::new();
    store
        .put_subscription(CONNECTION, "e1", i64::MAX)
        .await
        .expect("subscribe");
    let routes: BTreeMap<String, String> = if routes {
        [(QUEUE_ARN.to_string(), sqs.dead_letter_queue_url())].into()
    } else {
        BTreeMap::new()
    };
    Runtime::new(Deps {
        store: Arc::new(store),
        pusher: Some(aws::pusher(
            &sdk,
            &connections.endpoint,
            PushClient::default(),
        )),
        dead_letters: aws::dead_letters(&sdk, routes),
        tokens: Some(keys()),
        access: std::sync::Arc::new(wspush_runtime::access::SubscribeAccess::allow_all()),
        token_leeway_secs: 30,
        record_ttl: Duration::from_secs(3600),
        push: quick_push_settings(),
        push_queue: None,
        plan: wspush_runtime::config::PlanSettings::default(),
        history: wspush_runtime::config::default_retention(),
        test_tokens_enabled: false,
    })
}

/// An EventBridge event's JSON, as EventBridge's SQS target writes it.
fn event(detail_type: &str, detail: &Value) -> String {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
        "source": "test", "account": "000000000000", "time": "2026-11-25T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": detail,
    })
    .to_string()
}

/// A batch of one record from [`QUEUE_ARN`] carrying `body`, received for the first time.
fn batch(body: &str) -> Value {
    json!({"Records": [{
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                       "SenderId": "events.amazonaws.com", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "-",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }]})
}

/// An empty array nested in `depth` arrays in all.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Every kind of record the runtime refuses for what it is, and a phrase of its reason.
fn refused_records() -> Vec<(&'static str, String, &'static str)> {
    let entity = |detail: Value| event("Entity Updated", &detail);
    let user = |detail: Value| event("Send User Push Notification", &detail);
    vec![
        (
            "entityId not a string",
            entity(json!({"entityId": 42})),
            "detail.entityId must be a non-empty string",
        ),
        (
            "entityId empty",
            entity(json!({"entityId": ""})),
            "detail.entityId must be a non-empty string",
        ),
        (
            "entityId over 1,000 bytes",
            entity(json!({"entityId": "x".repeat(1001)})),
            "longer than 1000 bytes",
        ),
        (
            "frame over 128 KB",
            entity(json!({"entityId": "e1", "message": "m".repeat(130 * 1024)})),
            "128 KB",
        ),
        (
            "callback not a string",
            user(json!({"userId": "u", "callback": {"url": "x"}})),
            "detail.callback must be a string",
        ),
        (
            "userId not a string",
            user(json!({"userId": 7})),
            "detail.userId must be a non-empty string",
        ),
        (
            "not an EventBridge event",
            "not json".to_string(),
            "is not an EventBridge event",
        ),
        (
            "nesting too deep for the parser",
            event("Entity Updated", &json!({"entityId": "e1"})).replace(
                r#"{"entityId":"e1"}"#,
                &format!(r#"{{"entityId":"e1","message":{}}}"#, nested(126)),
            ),
            "levels deep",
        ),
    ]
}

#[tokio::test]
async fn records_that_can_never_succeed_are_dead_lettered_on_their_first_receive() {
    for (kind, body, reason) in refused_records() {
        let connections = FakeConnections::start().await;
        let sqs = FakeSqs::start().await;
        let function = events_function(&connections, &sqs, true).await;
        let response = function.handle(batch(&body)).await.expect("batch handled");
        assert_eq!(
            response,
            json!({"batchItemFailures": []}),
            "{kind}: reported done, not received again"
        );
        let sent = sqs.sent();
        assert_eq!(sent.len(), 1, "{kind}: one SendMessage");
        let message = &sent[0];
        assert_eq!(message["QueueUrl"], sqs.dead_letter_queue_url(), "{kind}");
        assert_eq!(message["MessageBody"], body, "{kind}: the body unchanged");
        let attributes = &message["MessageAttributes"];
        assert_eq!(
            attributes["ERROR_CODE"],
            json!({"DataType": "String", "StringValue": "InvalidEvent"}),
            "{kind}"
        );
        let text = attributes["ERROR_MESSAGE"]["StringValue"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains(reason), "{kind}: {text:?} gives the reason");
        assert_eq!(connections.total_delivered(), 0, "{kind}: nobody pushed to");
    }
}

#[tokio::test]
async fn a_passing_fault_is_left_for_another_receive_not_dead_lettered() {
    let connections = FakeConnections::start().await;
    let sqs = FakeSqs::start().await;
    let function = events_function(&connections, &sqs, true).await;
    // Every attempt to push to the subscriber fails with 500: a fault of `@connections`.
    connections.script(CONNECTION, &[500; 16]);
    let body = event("Entity Updated", &json!({"entityId": "e1"}));
    let response = function.handle(batch(&body)).await.expect("batch handled");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
    assert!(sqs.sent().is_empty(), "not dead-lettered");
}

#[tokio::test]
async fn a_dead_letter_that_cannot_be_sent_leaves_the_record_for_another_receive() {
    let (kind, body, _) = refused_records().remove(0);
    let failed = json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]});
    for answer in [Answer::NoSuchQueue, Answer::Fail] {
        let connections = FakeConnections::start().await;
        let sqs = FakeSqs::start().await;
        sqs.answer(answer);
        let function = events_function(&connections, &sqs, true).await;
        let response = function.handle(batch(&body)).await.expect("batch handled");
        assert_eq!(response, failed, "{kind}, SQS answering {answer:?}");
    }
    // No dead-letter queue for the record's queue: the same.
    let connections = FakeConnections::start().await;
    let sqs = FakeSqs::start().await;
    let function = events_function(&connections, &sqs, false).await;
    let response = function.handle(batch(&body)).await.expect("batch handled");
    assert_eq!(response, failed, "{kind}, no DEAD_LETTER_QUEUES");
    assert!(sqs.sent().is_empty());
}
