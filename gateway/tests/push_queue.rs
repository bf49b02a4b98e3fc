//! The push queue over real HTTP: `SendMessageBatch` takes what SQS takes and refuses what it
//! refuses; a push batch on the queue reaches its connections through the Pusher function; a
//! batch the pusher reports failed is received again and, after its last receive, waits in
//! `push-dlq`; the pushers' concurrency follows the push rate limit; and an event for more
//! subscribers than the plan threshold reaches every one of them once, planned into batches
//! by the events function and pushed by the pushers.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use md5::Digest;
use serde_json::{json, Value};
use wspush_contract::push_queue;
use wspush_gateway::functions::Pushers;
use wspush_gateway::sqs;
use wspush_gateway::{GatewayConfig, QueueSettings, Throttle};
use wspush_runtime::config::PlanSettings;
use wspush_runtime::push_queue::PushBatch;

const JSON_10: &str = "application/x-amz-json-1.0";
const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";

/// One HTTP/1.1 request to the gateway over TCP: the status, the head (lower-case) and the
/// body as JSON (`Null` when empty).
async fn http(
    gw: &TestGateway,
    request_line: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String, Value) {
    let raw = raw_http(gw, request_line, headers, body).await;
    let (status, head, body) = parse_answer(&raw);
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("a JSON body")
    };
    (status, head, body)
}

async fn get(gw: &TestGateway, path: &str) -> Value {
    let (status, _, body) = http(gw, &format!("GET {path}"), &[], b"").await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// An SQS request (`target`, JSON 1.0) signed for `service` with the runtime's local key.
async fn sqs(gw: &TestGateway, target: &str, body: &Value, service: &str) -> (u16, String, Value) {
    let body = body.to_string();
    let host = gw.addr.to_string();
    let signed = SignedParts {
        service,
        method: "POST",
        host: &host,
        path_and_query: "/",
        headers: &[("content-type", JSON_10), ("x-amz-target", target)],
        body: body.as_bytes(),
    };
    let mut headers = vec![
        ("content-type", JSON_10.to_string()),
        ("x-amz-target", target.to_string()),
    ];
    headers.extend(sigv4_headers_for(&signed, SystemTime::now()));
    http(gw, "POST /", &headers, body.as_bytes()).await
}

async fn send_batch(gw: &TestGateway, queue_url: &str, entries: Value) -> (u16, String, Value) {
    let request = json!({"QueueUrl": queue_url, "Entries": entries});
    sqs(gw, SEND_MESSAGE_BATCH, &request, "sqs").await
}

/// A queue as `/_gateway/queues` lists it.
async fn queue(gw: &TestGateway, name: &str) -> Value {
    let listing = get(gw, "/_gateway/queues").await;
    listing["queues"]
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["name"] == name).cloned())
        .unwrap_or_else(|| panic!("queue {name} is listed: {listing}"))
}

async fn push_queue_url(gw: &TestGateway) -> String {
    let push = queue(gw, push_queue::NAME).await;
    push["url"].as_str().expect("a queue URL").to_string()
}

/// A function as `/_gateway/functions` lists it.
async fn function(gw: &TestGateway, name: &str) -> Value {
    let listing = get(gw, "/_gateway/functions").await;
    listing["functions"]
        .as_array()
        .and_then(|functions| functions.iter().find(|f| f["name"] == name).cloned())
        .unwrap_or_else(|| panic!("function {name} is listed: {listing}"))
}

/// Polls the push queue's counts over HTTP until `check` holds, at most `secs`.
async fn push_counts_reach(gw: &TestGateway, secs: u64, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let counts = queue(gw, push_queue::NAME).await["counts"].clone();
        if check(&counts) || tokio::time::Instant::now() >= deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `WSPUSH_KIND` attribute that marks a push batch.
fn push_batch_attributes() -> Value {
    json!({push_queue::KIND_ATTRIBUTE: {"DataType": "String", "StringValue": push_queue::PUSH_BATCH}})
}

/// A push-batch entry of `batch`.
fn entry(id: &str, batch: &PushBatch) -> Value {
    json!({
        "Id": id,
        "MessageBody": serde_json::to_string(batch).expect("a batch serializes"),
        "MessageAttributes": push_batch_attributes(),
    })
}

/// A batch carrying `frame` inline to `connection_ids`.
fn inline_batch(frame: &Value, connection_ids: &[String]) -> PushBatch {
    PushBatch {
        event_id: uuid::Uuid::new_v4().to_string(),
        entity_id: "pushed".into(),
        frame: Some(frame.to_string()),
        position: None,
        recipients: connection_ids.iter().map(|id| (id.clone(), None)).collect(),
    }
}

/// SQS's digest of string attributes, from its documented encoding: per attribute in name
/// order, the length-prefixed name and data type, transport byte 1, the length-prefixed value.
fn documented_md5_of_string_attribute(name: &str, value: &str) -> String {
    let mut bytes = Vec::new();
    for (i, field) in [name, "String", value].into_iter().enumerate() {
        if i == 2 {
            bytes.push(1u8);
        }
        bytes.extend((field.len() as u32).to_be_bytes());
        bytes.extend(field.as_bytes());
    }
    format!("{:x}", md5::Md5::digest(&bytes))
}

fn md5_hex(text: &str) -> String {
    format!("{:x}", md5::Md5::digest(text.as_bytes()))
}

#[tokio::test]
async fn send_message_batch_takes_the_good_entries_and_fails_the_bad_ones_as_sqs_does() {
    let gw = TestGateway::start().await;
    let url = push_queue_url(&gw).await;
    let plain = "a body without attributes";
    let entries = json!([
        {"Id": "with-attributes", "MessageBody": "{}", "MessageAttributes": push_batch_attributes()},
        {"Id": "plain_2", "MessageBody": plain},
        {"Id": "bell", "MessageBody": "bell \u{7}"},
        {"Id": "empty", "MessageBody": ""},
        {"Id": "bad-attribute", "MessageBody": "x", "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}},
    ]);
    let (status, head, answer) = send_batch(&gw, &url, entries).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        head.contains("content-type: application/x-amz-json-1.0"),
        "{head}"
    );
    let successful = answer["Successful"].as_array().expect("Successful");
    assert_eq!(successful.len(), 2, "{answer}");
    let first = &successful[0];
    assert_eq!(first["Id"], "with-attributes");
    assert_eq!(first["MD5OfMessageBody"], md5_hex("{}"));
    assert_eq!(
        first["MD5OfMessageAttributes"],
        documented_md5_of_string_attribute(push_queue::KIND_ATTRIBUTE, push_queue::PUSH_BATCH)
    );
    assert!(first["MessageId"].as_str().is_some_and(|id| !id.is_empty()));
    let second = &successful[1];
    assert_eq!(second["Id"], "plain_2");
    assert_eq!(second["MD5OfMessageBody"], md5_hex(plain));
    assert!(second.get("MD5OfMessageAttributes").is_none(), "{second}");
    assert_ne!(first["MessageId"], second["MessageId"]);

    let failed = answer["Failed"].as_array().expect("Failed");
    let codes: Vec<(&str, &str)> = failed
        .iter()
        .map(|f| {
            (
                f["Id"].as_str().unwrap_or(""),
                f["Code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("bell", "InvalidMessageContents"),
            ("empty", "MissingParameter"),
            ("bad-attribute", "InvalidParameterValue"),
        ]
    );
    for f in failed {
        assert_eq!(f["SenderFault"], true, "{f}");
        assert!(f["Message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
    }
    let counts = queue(&gw, push_queue::NAME).await["counts"].clone();
    assert_eq!(
        counts["sent"], 2,
        "only the good entries are sent: {counts}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn send_message_batch_refuses_whole_batches_as_sqs_does() {
    let gw = TestGateway::start().await;
    let url = push_queue_url(&gw).await;
    let message = |id: &str| json!({"Id": id, "MessageBody": "x"});
    let eleven: Vec<Value> = (0..11).map(|i| message(&format!("m{i}"))).collect();
    let half_mib_and_a_byte = "h".repeat(512 * 1024 + 1);
    let too_long = json!([
        {"Id": "a", "MessageBody": half_mib_and_a_byte},
        {"Id": "b", "MessageBody": half_mib_and_a_byte},
    ]);
    let events_queue = queue(&gw, "entity-updated").await["url"].clone();
    let cases = [
        (json!({"QueueUrl": url}), "EmptyBatchRequest"),
        (json!({"QueueUrl": url, "Entries": []}), "EmptyBatchRequest"),
        (
            json!({"QueueUrl": url, "Entries": eleven}),
            "TooManyEntriesInBatchRequest",
        ),
        (
            json!({"QueueUrl": url, "Entries": [message("same"), message("same")]}),
            "BatchEntryIdsNotDistinct",
        ),
        (
            json!({"QueueUrl": url, "Entries": [message("a.b")]}),
            "InvalidBatchEntryId",
        ),
        (
            json!({"QueueUrl": url, "Entries": [message(&"i".repeat(81))]}),
            "InvalidBatchEntryId",
        ),
        (
            json!({"QueueUrl": url, "Entries": too_long}),
            "BatchRequestTooLong",
        ),
    ];
    for (request, shape) in cases {
        let (status, head, answer) = sqs(&gw, SEND_MESSAGE_BATCH, &request, "sqs").await;
        assert_eq!(status, 400, "{shape}: {answer}");
        assert_eq!(answer["__type"], format!("com.amazonaws.sqs#{shape}"));
        assert!(
            head.contains(&format!(
                "x-amzn-query-error: aws.simplequeueservice.{};sender",
                shape.to_lowercase()
            )),
            "{shape}: {head}"
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let ok = json!([message("ok")]);
    let longest_id = json!([message(&"i".repeat(80))]);
    assert_eq!(
        send_batch(&gw, &url, longest_id).await.0,
        200,
        "80 characters are allowed"
    );

    // Only EventBridge's rules feed the event queues.
    let (status, head, answer) =
        send_batch(&gw, events_queue.as_str().unwrap_or(""), ok.clone()).await;
    assert_eq!(
        (status, &answer["__type"]),
        (400, &json!("com.amazonaws.sqs#QueueDoesNotExist"))
    );
    assert!(head.contains("x-amzn-query-error: aws.simplequeueservice.nonexistentqueue;sender"));

    // The signature is SQS's.
    let request = json!({"QueueUrl": url, "Entries": ok});
    let (status, head, _) = sqs(&gw, SEND_MESSAGE_BATCH, &request, "execute-api").await;
    assert_eq!(status, 403);
    assert!(
        head.contains("x-amzn-errortype: invalidsignatureexception"),
        "{head}"
    );
    let counts = queue(&gw, push_queue::NAME).await["counts"].clone();
    assert_eq!(
        counts["sent"], 1,
        "only the batch with the 80-character id: {counts}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_push_batch_on_the_queue_reaches_its_connection_through_the_pusher() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect("ada").await;
    let connection_id = only_connection(&gw).await;
    let url = push_queue_url(&gw).await;
    let frame = json!({"type": "EntityUpdated", "entityId": "pushed", "message": {"n": 1}});
    let batch = inline_batch(&frame, &[connection_id]);
    let (status, _, answer) = send_batch(&gw, &url, json!([entry("b1", &batch)])).await;
    assert_eq!(status, 200, "{answer}");

    assert_eq!(next_json(&mut client, 5).await, frame);
    let counts = push_counts_reach(&gw, 5, |c| c["deleted"] == 1).await;
    assert_eq!(
        (
            &counts["sent"],
            &counts["received"],
            &counts["receivedAgain"],
            &counts["deleted"]
        ),
        (&json!(1), &json!(1), &json!(0), &json!(1)),
        "{counts}"
    );
    let pusher = function(&gw, "Pusher").await;
    assert_eq!(
        (&pusher["invocations"], &pusher["errors"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(function(&gw, "Events").await["invocations"], 0);
    assert!(silent_for(&mut client, 300).await, "pushed once");
    gw.stop().await;
}

/// A gateway whose account throttle lets one `@connections` call through and no more, and
/// whose push queue hides a received message for 1 s (deployed: 360 s). A pusher takes
/// seconds to give up on a throttled batch, so its receives overlap, as they do on AWS when a
/// function outlasts the visibility timeout.
fn throttled_with_short_visibility() -> GatewayConfig {
    GatewayConfig {
        throttle: Some(Throttle {
            rate_per_sec: 0.001,
            burst: 1,
        }),
        push_queue: QueueSettings {
            visibility_timeout: Duration::from_secs(1),
            ..QueueSettings::push()
        },
        ..GatewayConfig::default()
    }
}

#[tokio::test]
async fn a_batch_the_pusher_reports_failed_is_received_again_then_dead_lettered() {
    let gw = TestGateway::start_with(throttled_with_short_visibility()).await;
    let url = push_queue_url(&gw).await;
    // The first push takes the one token (and finds no one: 410); the second is throttled on
    // every attempt.
    let ids: Vec<String> = (0..2).map(|i| format!("nobody-{i}")).collect();
    let batch = inline_batch(&json!({"n": 1}), &ids);
    assert_eq!(
        send_batch(&gw, &url, json!([entry("b", &batch)])).await.0,
        200
    );

    let receives = u64::from(push_queue::MAX_RECEIVE_COUNT);
    let counts = push_counts_reach(&gw, 60, |c| c["deadLettered"] == 1).await;
    assert_eq!(
        (
            &counts["received"],
            &counts["receivedAgain"],
            &counts["deleted"],
            &counts["deadLettered"]
        ),
        (&json!(receives), &json!(receives - 1), &json!(0), &json!(1)),
        "each receive throttled, then the redrive policy moves it: {counts}"
    );
    let dead = get(&gw, "/_gateway/dead-letters").await["messages"].clone();
    let dead = dead.as_array().expect("a listing");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["queue"], "push-dlq");
    assert_eq!(dead[0]["receiveCount"], receives);
    // Why: the failure the pusher reported last before the move, or, when none of its
    // overlapping receives had answered yet, that it was never deleted.
    let why = dead[0]["lastError"].as_str().unwrap_or("");
    let reported = (1..=receives)
        .any(|r| why == format!("the pusher function reported the record failed on receive {r}"));
    assert!(
        reported || why == format!("received {receives} times without being deleted"),
        "{why}"
    );
    assert_eq!(
        dead[0]["event"]["recipients"][1][0], "nobody-1",
        "the batch, as sent"
    );
    assert_eq!(
        dead[0]["messageAttributes"][push_queue::KIND_ATTRIBUTE]["StringValue"],
        push_queue::PUSH_BATCH
    );
    let push = queue(&gw, push_queue::NAME).await;
    assert_eq!(
        (&push["messages"], &push["deadLetters"]),
        (&json!(0), &json!(1))
    );

    // Redriven, it is the same push batch again: received, throttled, received again.
    let (status, _, answer) = http(&gw, "POST /_gateway/dead-letters/redrive", &[], b"").await;
    assert_eq!((status, &answer["redriven"]), (200, &json!(1)));
    let counts = push_counts_reach(&gw, 10, |c| c["received"] == receives + 2).await;
    assert_eq!(counts["sent"], 2, "{counts}");
    assert_eq!(counts["received"], receives + 2, "{counts}");
    gw.stop().await;
}

#[tokio::test]
async fn a_batch_that_can_never_succeed_goes_to_push_dlq_with_its_reason_on_its_first_receive() {
    let gw = TestGateway::start().await;
    let url = push_queue_url(&gw).await;
    let nothing_to_push = PushBatch {
        frame: None,
        ..inline_batch(&json!({}), &["someone".to_string()])
    };
    let entries = json!([entry("neither-frame-nor-position", &nothing_to_push)]);
    assert_eq!(send_batch(&gw, &url, entries).await.0, 200);

    let counts = push_counts_reach(&gw, 10, |c| c["deleted"] == 1).await;
    assert_eq!(
        (
            &counts["received"],
            &counts["deleted"],
            &counts["deadLettered"]
        ),
        (&json!(1), &json!(1), &json!(1)),
        "sent to push-dlq by the pusher, then reported done: {counts}"
    );
    let dead = get(&gw, "/_gateway/dead-letters").await["messages"].clone();
    assert_eq!(dead[0]["queue"], "push-dlq");
    assert_eq!(dead[0]["errorCode"], "InvalidEvent");
    assert_eq!(
        dead[0]["messageAttributes"][push_queue::KIND_ATTRIBUTE]["StringValue"],
        push_queue::PUSH_BATCH,
        "the dead letter keeps the marker, so a redrive reaches the pushers again"
    );
    let why = dead[0]["lastError"].as_str().unwrap_or("");
    assert!(why.contains("a frame or a stream position"), "{why}");
    assert_eq!(
        dead[0]["event"]["eventId"],
        nothing_to_push.event_id.as_str()
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_pushers_concurrency_follows_the_push_rate_limit() {
    let gw = TestGateway::start().await;
    let pusher = function(&gw, "Pusher").await;
    let default_pushers = push_queue::pushers(wspush_contract::defaults::PUSH_RATE_LIMIT);
    assert_eq!(pusher["concurrencyLimit"], default_pushers);
    gw.stop().await;

    // Two pushers for 1,000 calls a second, each call taking 300 ms: ten batches find both
    // busy, and never a third.
    let config = GatewayConfig {
        pushers: Pushers::sharing(1_000),
        connections_latency: Duration::from_millis(300),
        ..GatewayConfig::default()
    };
    let gw = TestGateway::start_with(config).await;
    let url = push_queue_url(&gw).await;
    let entries: Vec<Value> = (0..sqs::MAX_ENTRIES)
        .map(|i| {
            entry(
                &format!("b{i}"),
                &inline_batch(&json!({"n": i}), &[format!("gone-{i}")]),
            )
        })
        .collect();
    let (status, _, answer) = send_batch(&gw, &url, Value::Array(entries)).await;
    assert_eq!(
        (status, answer["Failed"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let counts = push_counts_reach(&gw, 30, |c| c["deleted"] == 10).await;
    assert_eq!(counts["deleted"], 10, "{counts}");
    let pusher = function(&gw, "Pusher").await;
    assert_eq!(
        (
            &pusher["concurrencyLimit"],
            &pusher["peakRunning"],
            &pusher["invocations"]
        ),
        (&json!(2), &json!(2), &json!(10)),
        "{pusher}"
    );
    gw.stop().await;
}

/// The gateway binary with `args`, on port 0: its banner's first line, or its error.
async fn run_gateway(args: &[&str]) -> Result<(tokio::process::Child, String), String> {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wspush-gateway"))
        .args(["--port", "0", "--jwt-secret", SECRET])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let banner = tokio::time::timeout(Duration::from_secs(30), async {
        let mut banner = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Limits:") {
                break;
            }
        }
        banner
    })
    .await
    .expect("the banner in time");
    if banner.starts_with("listening on") {
        return Ok((child, banner));
    }
    let output = child.wait_with_output().await.expect("the gateway ends");
    Err(String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn the_push_flags_set_the_pushers_and_refuse_values_no_deployment_allows() {
    let (mut paced, banner) = run_gateway(&["--push-rate-limit", "25000"])
        .await
        .expect("started");
    assert!(
        banner.contains("10 pushers at 2500 calls/s each"),
        "{banner}"
    );
    paced.kill().await.expect("stopped");
    let (mut unpaced, banner) = run_gateway(&[]).await.expect("started");
    assert!(banner.contains("4 pushers, unpaced"), "{banner}");
    unpaced.kill().await.expect("stopped");

    for (flag, value, says) in [
        (
            "--push-rate-limit",
            "0",
            "--push-rate-limit must be from 1 to 2500000",
        ),
        ("--plan-threshold", "0", "--plan-threshold must be above 0"),
        (
            "--push-batch-connections",
            "5001",
            "--push-batch-connections must be from 1 to 5000",
        ),
        (
            "--push-batch-connections",
            "0",
            "--push-batch-connections must be from 1 to 5000",
        ),
        (
            "--index-shards",
            "65",
            "--index-shards must be from 1 to 64",
        ),
        ("--index-shards", "0", "--index-shards must be from 1 to 64"),
    ] {
        match run_gateway(&[flag, value]).await {
            Err(stderr) => assert!(stderr.contains(says), "{flag} {value}: {stderr}"),
            Ok((mut child, _)) => {
                child.kill().await.expect("stopped");
                panic!("{flag} {value} was accepted");
            }
        }
    }
}

/// A gateway that plans every event for more than 5 recipients into batches of 2 (more than
/// 20 recipients take more than one `SendMessageBatch`).
fn planning() -> GatewayConfig {
    GatewayConfig {
        plan: PlanSettings {
            threshold: 5,
            batch_connections: 2,
        },
        ..GatewayConfig::default()
    }
}

async fn subscribed_clients(gw: &TestGateway, entity_id: &str, count: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..count {
        let mut client = gw.connect(&format!("user-{i}")).await;
        send_json(
            &mut client,
            json!({"action": "subscribe", "entityId": entity_id}),
        )
        .await;
        assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
        clients.push(client);
    }
    clients
}

async fn put_event(gw: &TestGateway, entity_id: &str, message: &Value) {
    let entries = json!({"Entries": [{
        "Source": "tests",
        "DetailType": "Entity Updated",
        "Detail": json!({"entityId": entity_id, "message": message}).to_string(),
    }]});
    let headers = [
        ("x-amz-target", "AWSEvents.PutEvents".to_string()),
        ("content-type", "application/x-amz-json-1.1".to_string()),
    ];
    let (status, _, answer) = http(gw, "POST /", &headers, entries.to_string().as_bytes()).await;
    assert_eq!(
        (status, &answer["FailedEntryCount"]),
        (200, &json!(0)),
        "{answer}"
    );
}

/// Each client's next push carries `message`, and nothing follows it.
async fn each_pushed_once(clients: &mut [Client], message: &Value) -> Vec<u64> {
    let mut serials = Vec::new();
    for client in clients.iter_mut() {
        let push = next_json(client, 20).await;
        assert_eq!(&push["message"], message);
        serials.push(push["serial"].as_u64().expect("a serial"));
    }
    for client in clients.iter_mut() {
        assert!(silent_for(client, 200).await, "pushed once");
    }
    serials
}

#[tokio::test]
async fn an_event_above_the_plan_threshold_reaches_every_subscriber_once_through_the_push_queue() {
    let gw = TestGateway::start_with(planning()).await;
    let subscribers = 24;
    let mut clients = subscribed_clients(&gw, "crowded", subscribers).await;

    // A small frame travels inside each batch.
    let small = json!({"n": 1});
    put_event(&gw, "crowded", &small).await;
    let serials = each_pushed_once(&mut clients, &small).await;
    assert!(serials.iter().all(|s| *s == serials[0]), "{serials:?}");
    let batches = (subscribers / 2) as u64;
    let counts = push_counts_reach(&gw, 10, |c| c["deleted"] == batches).await;
    assert_eq!(
        (
            &counts["sent"],
            &counts["received"],
            &counts["deleted"],
            &counts["deadLettered"]
        ),
        (&json!(batches), &json!(batches), &json!(batches), &json!(0)),
        "{counts}"
    );

    // A frame over 16 KB travels as its stream position; each pusher reads it from history.
    let large = json!({"text": "x".repeat(push_queue::INLINE_FRAME_BYTES + 1024)});
    put_event(&gw, "crowded", &large).await;
    let next = each_pushed_once(&mut clients, &large).await;
    assert!(next.iter().all(|s| *s == serials[0] + 1), "{next:?}");
    let counts = push_counts_reach(&gw, 10, |c| c["deleted"] == 2 * batches).await;
    assert_eq!(counts["sent"], 2 * batches, "{counts}");
    assert_eq!(counts["receivedAgain"], 0, "{counts}");

    let pusher = function(&gw, "Pusher").await;
    assert_eq!(
        (&pusher["invocations"], &pusher["errors"]),
        (&json!(2 * batches), &json!(0))
    );
    assert_eq!(
        function(&gw, "Events").await["invocations"],
        2,
        "one planning invocation per event"
    );
    assert!(get(&gw, "/_gateway/dead-letters").await["messages"]
        .as_array()
        .is_some_and(Vec::is_empty));
    gw.stop().await;
}

#[tokio::test]
async fn an_event_up_to_the_plan_threshold_is_pushed_by_the_events_function_itself() {
    let gw = TestGateway::start_with(planning()).await;
    let mut clients = subscribed_clients(&gw, "quiet", 5).await;
    let message = json!({"n": 1});
    put_event(&gw, "quiet", &message).await;
    each_pushed_once(&mut clients, &message).await;
    assert_eq!(queue(&gw, push_queue::NAME).await["counts"]["sent"], 0);
    assert_eq!(function(&gw, "Pusher").await["invocations"], 0);
    gw.stop().await;
}
