//! A DynamoDB stand-in at the wire (JSON 1.0 protocol on 127.0.0.1:0) for what DynamoDB Local
//! never does on cue: answer `BatchWriteItem` with `UnprocessedItems`, refuse it for
//! throughput, stall one call while others are answered, fail a call. It serves `Query` from scripted pages of one connection's
//! sort keys and records what every `BatchWriteItem` asked to delete, so the production client
//! (`aws::dynamodb_client`) is what gets tested.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use wspush_contract::table::{PARTITION_KEY, SORT_KEY};

use super::Served;

/// How the stand-in answers one `Query`.
pub enum QueryReply {
    /// These sort keys, with a `LastEvaluatedKey` if another reply is scripted after this one
    /// (so a `Stall` after it is asked for).
    Page(Vec<String>),
    /// Never answers.
    Stall,
}

/// How the stand-in answers one `BatchWriteItem`.
#[derive(Clone, Copy, Debug)]
pub enum BatchReply {
    /// Every request processed.
    Done,
    /// The last `n` requests come back in `UnprocessedItems`, the others are processed.
    Unprocessed(usize),
    /// Never answers.
    Stall,
    /// A `ProvisionedThroughputExceededException` (400): the whole call refused for throughput,
    /// which the SDK retries a few times itself.
    Throttle,
    /// A `ValidationException` (400), which the SDK does not retry.
    Fail,
}

#[derive(Default)]
struct Script {
    queries: VecDeque<QueryReply>,
    batches: VecDeque<BatchReply>,
    /// The answer once `batches` is used up.
    then: Option<BatchReply>,
    /// Sort keys each `BatchWriteItem` asked to delete, in arrival order.
    requested: Vec<Vec<String>>,
    /// Sort keys handed back as unprocessed, every time.
    unprocessed: Vec<String>,
}

/// The stand-in; stops when dropped.
pub struct FakeDynamo {
    pub endpoint: String,
    script: Arc<Mutex<Script>>,
    _served: Served,
}

impl FakeDynamo {
    /// Answers `Query` with `queries` in turn (then stalls), and `BatchWriteItem` with
    /// `batches` in turn, then with `then`.
    pub async fn start(
        queries: Vec<QueryReply>,
        batches: Vec<BatchReply>,
        then: BatchReply,
    ) -> Self {
        let script = Arc::new(Mutex::new(Script {
            queries: queries.into(),
            batches: batches.into(),
            then: Some(then),
            ..Script::default()
        }));
        let app = Router::new()
            .route("/", post(answer))
            .with_state(script.clone());
        let served = Served::start(app).await;
        Self {
            endpoint: served.url.clone(),
            script,
            _served: served,
        }
    }

    /// Sort keys each `BatchWriteItem` asked to delete, in arrival order.
    pub fn requested(&self) -> Vec<Vec<String>> {
        self.lock().requested.clone()
    }

    /// Sort keys handed back as unprocessed, once per time.
    pub fn unprocessed(&self) -> Vec<String> {
        self.lock().unprocessed.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("fake DynamoDB lock")
    }
}

/// Sort keys `sk-0000` .. for tests that only count them.
pub fn sort_keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("sk-{i:04}")).collect()
}

async fn answer(
    axum::extract::State(script): axum::extract::State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request: Value = serde_json::from_str(&body).expect("request is JSON");
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let reply = match target {
        "DynamoDB_20120810.Query" => query(&script, &request),
        "DynamoDB_20120810.BatchWriteItem" => batch_write(&script, &request),
        other => panic!("the stand-in does not serve {other}"),
    };
    match reply {
        Some(reply) => reply,
        None => std::future::pending().await,
    }
}

fn key(pk: &str, sk: &str) -> Value {
    json!({ PARTITION_KEY: { "S": pk }, SORT_KEY: { "S": sk } })
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

/// The next scripted page, or `None` to stall.
fn query(script: &Mutex<Script>, request: &Value) -> Option<Response> {
    let mut script = script.lock().expect("fake DynamoDB lock");
    let QueryReply::Page(sort_keys) = script.queries.pop_front()? else {
        return None;
    };
    let pk = request["ExpressionAttributeValues"][":p"]["S"]
        .as_str()
        .expect("Query by pk");
    let items: Vec<Value> = sort_keys.iter().map(|sk| key(pk, sk)).collect();
    let mut body = json!({ "Items": items, "Count": items.len(), "ScannedCount": items.len() });
    if let (Some(_), Some(last)) = (script.queries.front(), sort_keys.last()) {
        body["LastEvaluatedKey"] = key(pk, last);
    }
    Some(ok(body))
}

/// Records the request and answers it as scripted, or `None` to stall.
fn batch_write(script: &Mutex<Script>, request: &Value) -> Option<Response> {
    let mut script = script.lock().expect("fake DynamoDB lock");
    let tables = request["RequestItems"].as_object().expect("RequestItems");
    let (table, requests) = tables.iter().next().expect("one table");
    let requests = requests.as_array().expect("write requests");
    let sort_key = |r: &Value| {
        r["DeleteRequest"]["Key"][SORT_KEY]["S"]
            .as_str()
            .map(str::to_string)
    };
    script
        .requested
        .push(requests.iter().filter_map(sort_key).collect());
    let reply = match script.batches.pop_front() {
        Some(reply) => reply,
        None => script.then.expect("a reply once the script is used up"),
    };
    match reply {
        BatchReply::Done => Some(ok(json!({ "UnprocessedItems": {} }))),
        BatchReply::Unprocessed(n) => {
            let kept = &requests[requests.len().saturating_sub(n)..];
            let kept_keys: Vec<String> = kept.iter().filter_map(sort_key).collect();
            script.unprocessed.extend(kept_keys);
            Some(ok(json!({ "UnprocessedItems": { table: kept } })))
        }
        BatchReply::Stall => None,
        BatchReply::Throttle => Some(client_error(
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        )),
        BatchReply::Fail => Some(client_error(
            "com.amazon.coral.validate#ValidationException",
        )),
    }
}

/// A 400 of DynamoDB's JSON protocol: `kind` names the exception.
fn client_error(kind: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        json!({ "__type": kind, "message": "from the stand-in" }).to_string(),
    )
        .into_response()
}
