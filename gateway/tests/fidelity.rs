//! Where API Gateway, the management API, EventBridge, SQS and Lambda are strict, the gateway is
//! equally strict. Each test names the AWS behaviour it proves; the README's fidelity table
//! points here.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use common::channel::{self, ChannelGateway};
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;
use wspush_gateway::config::MAX_INVOCATIONS_PER_CONNECTION;
use wspush_gateway::identity;
use wspush_gateway::websocket::socket::THROTTLED;
use wspush_gateway::{GatewayConfig, Limits, QueueSettings, Throttle};
use wspush_runtime::store::{
    Appended, ConnectionRecord, ConnectionStore, MemoryStore, NewMessage, Recipient, Removal,
    Retention, StoreError, StoredMessage, Stream, StreamHead, Subscribed, Subscription,
};

/// A handshake offering `protocols`, token in the query string.
async fn offer(
    gw: &TestGateway,
    protocols: &str,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}?access_token={}", gw.ws_url(), gw.token("ana"));
    connect_raw(&url, Some(protocols)).await.map(|(c, _)| c)
}

#[tokio::test]
async fn a_subprotocol_is_selected_only_when_connect_returns_it() {
    let gw = TestGateway::start().await;
    // `$connect` returns `websocket` when offered: the handshake selects exactly it.
    let url = format!("{}?access_token={}", gw.ws_url(), gw.token("ana"));
    let (_client, response) = connect_raw(&url, Some("websocket, other"))
        .await
        .expect("websocket offered and returned");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("websocket")
    );
    // Offered something `$connect` does not return: no subprotocol comes back, and a client
    // that offered one aborts, as against AWS.
    let refused = offer(&gw, "graphql-ws")
        .await
        .expect_err("no subprotocol returned");
    assert!(
        refused.to_string().to_lowercase().contains("subprotocol"),
        "{refused}"
    );
    // Offered nothing: nothing selected.
    let (_plain, response) = connect_raw(&url, None).await.expect("connects");
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    gw.stop().await;
}

fn authorizer_invocations(gw: &TestGateway) -> u64 {
    gw.state.functions().authorizer.stats().invocations
}

#[tokio::test]
async fn a_missing_identity_source_is_401_without_invoking_the_authorizer() {
    let config = GatewayConfig {
        identity_sources: identity::parse_all(&["route.request.querystring.access_token"])
            .expect("valid"),
        ..GatewayConfig::default()
    };
    let gw = TestGateway::start_with(config).await;
    let token = gw.token("bo");
    let header_only = connect_raw(&gw.ws_url(), Some(&format!("websocket, {token}")))
        .await
        .expect_err("query string source missing");
    assert_eq!(refusal_status(&header_only), Some(401));
    assert_eq!(
        authorizer_invocations(&gw),
        0,
        "the authorizer was not invoked"
    );
    let url = format!("{}?access_token={token}", gw.ws_url());
    connect_raw(&url, None).await.expect("source present");
    assert_eq!(authorizer_invocations(&gw), 1);
    gw.stop().await;

    // An empty list invokes the authorizer always; the deployed list (a context variable
    // every handshake has) does too.
    for sources in [
        vec![],
        identity::parse_all(&wspush_contract::authorizer::IDENTITY_SOURCES).expect("valid"),
    ] {
        let gw = TestGateway::start_with(GatewayConfig {
            identity_sources: sources,
            ..GatewayConfig::default()
        })
        .await;
        let nothing = connect_raw(&gw.ws_url(), None).await.expect_err("no token");
        assert_eq!(refusal_status(&nothing), Some(401));
        assert_eq!(authorizer_invocations(&gw), 1, "invoked and refused");
        let token = gw.token("bo");
        connect_raw(&gw.ws_url(), Some(&format!("websocket, {token}")))
            .await
            .expect("header token reaches the authorizer");
        gw.stop().await;
    }
}

#[tokio::test]
async fn messages_over_32_kb_arrive_whole_in_frames_of_32_kb() {
    let gw = TestGateway::start().await;
    let url = format!("{}?access_token={}", gw.ws_url(), gw.token("cy"));
    // A client that refuses any frame over 32 KB, as API Gateway never sends one.
    let strict = WebSocketConfig::default().max_frame_size(Some(32 * 1024));
    let (mut client, _) = tokio_tungstenite::connect_async_with_config(url, Some(strict), false)
        .await
        .expect("connect");
    let id = only_connection(&gw).await;
    let message = "é".repeat(50 * 1024); // 100 KB of two-byte characters
    management(&gw)
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new(message.as_bytes()))
        .send()
        .await
        .expect("128 KB or less is accepted");
    let received = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("every frame within 32 KB");
    assert_eq!(received, Message::Text(message.into()));

    let too_big = management(&gw)
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new(vec![b'x'; 128 * 1024 + 1]))
        .send()
        .await
        .expect_err("over 128 KB");
    assert_eq!(
        too_big.raw_response().map(|r| r.status().as_u16()),
        Some(413)
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_account_throttle_answers_429_limit_exceeded() {
    let config = GatewayConfig {
        throttle: Some(Throttle {
            rate_per_sec: 1.0,
            burst: 3,
        }),
        connections_latency: Duration::from_millis(20),
        ..GatewayConfig::default()
    };
    let gw = TestGateway::start_with(config).await;
    let _client = gw.connect("dee").await;
    let id = only_connection(&gw).await;
    let api = management(&gw);
    let started = tokio::time::Instant::now();
    let mut throttled = 0;
    for _ in 0..8 {
        if let Err(e) = api.get_connection().connection_id(&id).send().await {
            let service = e.into_service_error();
            assert!(service.is_limit_exceeded_exception(), "{service:?}");
            throttled += 1;
        }
    }
    assert!(
        throttled >= 4,
        "the burst of 3 is spent: {throttled} throttled"
    );
    // Every call, throttled or not, waited for the injected latency.
    assert!(started.elapsed() >= Duration::from_millis(8 * 20));
    gw.stop().await;
}

/// Over channels: a client side that holds some frames and never reads, as a client's codec
/// and the kernel's buffers hold some and then stop taking more.
#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_gets_429_not_unbounded_memory() {
    let config = GatewayConfig {
        limits: Limits {
            max_client_buffer_bytes: 256 * 1024,
            ..Limits::default()
        },
        ..GatewayConfig::default()
    };
    let gw = ChannelGateway::new(config);
    // 32 frames: eight of the 100 KB messages below, each split into four frames.
    let never_reads = gw.connect_with_buffer("eli", 32).await;
    let id = &never_reads.connection_id;
    let chunk = vec![b'x'; 100 * 1024];
    let mut outcome = None;
    // The client's side absorbs some first; then the gateway's own buffer fills and
    // API Gateway's answer comes back.
    for posted in 0..2_000 {
        let answer = gw.post_to_connection(id, chunk.clone()).await;
        if answer.status != 200 {
            outcome = Some((posted, answer));
            break;
        }
        // The caller's round trip: meanwhile the socket writes what the client side takes.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (posted, answer) = outcome.expect("the buffer fills");
    assert_eq!(
        answer.error_type.as_deref(),
        Some("LimitExceededException"),
        "after {posted}: {answer:?}"
    );
    assert_eq!(answer.status, 429, "after {posted}: {answer:?}");
    assert!(
        posted >= 8,
        "the client side took its eight first: {posted}"
    );
}

fn ping() -> Message {
    Message::Text(json!({"action": "ping"}).to_string().into())
}

/// The bytes waiting in a connection's client buffer.
fn queued(gw: &ChannelGateway, id: &str) -> usize {
    gw.state.registry().usage(id).map_or(0, |u| u.queued_bytes)
}

/// The replies to a connection's frames dropped because its client buffer was full.
fn replies_dropped(gw: &ChannelGateway, id: &str) -> u64 {
    gw.state
        .registry()
        .usage(id)
        .map_or(0, |u| u.replies_dropped)
}

/// Lets the gateway run `millis` of paused time in steps of a millisecond, and returns the
/// most bytes the connection's client buffer held at any step.
async fn peak_queued_over(gw: &ChannelGateway, id: &str, millis: u64) -> usize {
    let mut peak = 0;
    for _ in 0..millis {
        tokio::time::sleep(Duration::from_millis(1)).await;
        peak = peak.max(queued(gw, id));
    }
    peak
}

/// Every text frame the client has been sent, read until a second passes without one, and
/// the most bytes its client buffer held meanwhile.
async fn read_until_silent(
    client: &mut channel::ChannelClient,
    gw: &ChannelGateway,
) -> (Vec<Value>, usize) {
    let id = client.connection_id.clone();
    let (mut frames, mut peak) = (Vec::new(), 0);
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_secs(1), client.next()).await
    {
        peak = peak.max(queued(gw, &id));
        if let Message::Text(text) = frame {
            frames.push(serde_json::from_str(&text).expect("frame is JSON"));
        }
    }
    (frames, peak)
}

fn count(frames: &[Value], field: &str, value: &str) -> usize {
    frames.iter().filter(|f| f[field] == value).count()
}

/// API Gateway's route throttling, with the stage's rate and burst: a frame over it is not
/// invoked but answered with API Gateway's error frame, and the connection stays open. The
/// buckets are the stage's, one per route: every client's `ping` draws from the same one.
#[tokio::test(start_paused = true)]
async fn route_throttling_answers_too_many_requests_and_keeps_the_connection_open() {
    let config = GatewayConfig {
        route_throttle: Some(Throttle {
            rate_per_sec: 1.0,
            burst: 5,
        }),
        ..GatewayConfig::default()
    };
    let gw = ChannelGateway::new(config);
    let mut alice = gw.connect("kit").await;
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        alice.codec_reads(Ok(ping()));
    }
    let mut answers = Vec::new();
    for _ in 0..20 {
        answers.push(next_json(&mut alice, 5).await);
    }
    let refilled = usize::try_from(started.elapsed().as_secs()).unwrap_or(usize::MAX);
    let pongs = count(&answers, "type", "Pong");
    assert!(
        (5..=5 + refilled).contains(&pongs),
        "the burst of 5: {pongs}"
    );
    let throttled: Vec<&Value> = answers
        .iter()
        .filter(|a| a["message"] == THROTTLED)
        .collect();
    assert_eq!(pongs + throttled.len(), 20, "{answers:?}");
    for answer in throttled {
        assert_eq!(answer["connectionId"], alice.connection_id.as_str());
        assert!(answer["requestId"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(answer.as_object().map(|o| o.len()), Some(3), "{answer}");
    }
    // Another client of the stage finds the `ping` bucket empty too; `subscribe` has its own.
    let mut bob = gw.connect("lou").await;
    bob.codec_reads(Ok(ping()));
    assert_eq!(next_json(&mut bob, 5).await["message"], THROTTLED);
    send_json(&mut bob, json!({"action": "subscribe", "entityId": "E"})).await;
    assert_eq!(next_json(&mut bob, 5).await["type"], "Subscribed");
    // Still open, and the rate refills the bucket.
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.codec_reads(Ok(ping()));
    assert_eq!(next_json(&mut alice, 5).await, json!({"type": "Pong"}));
}

/// A client that sends `ping` as fast as it can and never reads: the gateway keeps at most the
/// client buffer's bytes for it (then it stops reading the client's frames: backpressure), the
/// frames beyond the burst are answered "Too Many Requests", and every frame is answered or
/// counted as dropped.
#[tokio::test(start_paused = true)]
async fn a_client_that_floods_pings_and_never_reads_stays_within_its_buffer() {
    let limit = 4 * 1024;
    let config = GatewayConfig {
        limits: Limits {
            max_client_buffer_bytes: limit,
            ..Limits::default()
        },
        route_throttle: Some(Throttle {
            rate_per_sec: 1.0,
            burst: 20,
        }),
        ..GatewayConfig::default()
    };
    let gw = ChannelGateway::new(config);
    let mut flooder = gw.connect_with_buffer("max", 16).await;
    let id = flooder.connection_id.clone();
    let started = tokio::time::Instant::now();
    for _ in 0..2_000 {
        flooder.codec_reads(Ok(ping()));
    }
    let unread_peak = peak_queued_over(&gw, &id, 200).await;
    assert!(unread_peak <= limit, "{unread_peak} bytes queued");
    let (answers, reading_peak) = read_until_silent(&mut flooder, &gw).await;
    assert!(reading_peak <= limit, "{reading_peak} bytes queued");
    let refilled = usize::try_from(started.elapsed().as_secs()).unwrap_or(usize::MAX);
    let pongs = count(&answers, "type", "Pong");
    let throttled = count(&answers, "message", THROTTLED);
    assert!(pongs <= 20 + refilled, "{pongs} pongs");
    assert!(throttled > 0, "frames beyond the burst are throttled");
    let dropped = usize::try_from(replies_dropped(&gw, &id)).unwrap_or(usize::MAX);
    assert_eq!(
        pongs + throttled + dropped,
        2_000,
        "every frame answered or counted"
    );
}

/// The answer to a close frame and these two errors are the codec's: a real socket. What the
/// loop then does is in `websocket.rs`:
/// `read_errors_and_client_closes_end_the_socket_with_their_codes`.
#[tokio::test]
async fn close_frames_are_answered_and_protocol_errors_get_their_codes() {
    let gw = TestGateway::start().await;
    let mut polite = gw.connect("fay").await;
    polite.send(Message::Close(None)).await.expect("close sent");
    // The gateway answers the close frame: the client sees a clean close, not 1006.
    let answered = tokio::time::timeout(Duration::from_secs(5), polite.next())
        .await
        .expect("in time");
    assert!(
        matches!(answered, Some(Ok(Message::Close(_))) | None),
        "{answered:?}"
    );

    // A frame with a reserved opcode (masked, empty): 1002.
    let mut rude = gw.connect("gus").await;
    raw_write(&mut rude, &[0x83, 0x80, 0, 0, 0, 0]).await;
    assert_eq!(close_code(&mut rude, 5).await, Some(1002));
    // A text frame that is not UTF-8 (masked with a zero key): 1007.
    let mut garbled = gw.connect("hal").await;
    raw_write(&mut garbled, &[0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28]).await;
    assert_eq!(close_code(&mut garbled, 5).await, Some(1007));
    gw.disconnected().await;
    assert_eq!(gw.store.connection_count(), 0);
    gw.stop().await;
}

async fn raw_write(client: &mut Client, bytes: &[u8]) {
    match client.get_mut() {
        MaybeTlsStream::Plain(tcp) => tcp.write_all(bytes).await.expect("raw write"),
        _ => panic!("plain TCP expected"),
    }
}

/// A store whose subscription writes wait until released, and whose subscriber queries fail
/// while `failing` is set: the store seam of the runtime, delayed and broken on demand.
#[derive(Clone)]
struct Faulty {
    inner: MemoryStore,
    /// While `true`, subscription writes wait.
    held: Arc<tokio::sync::watch::Sender<bool>>,
    /// How many subscription writes have waited.
    waited: Arc<tokio::sync::watch::Sender<usize>>,
    failing: Arc<AtomicBool>,
}

impl Faulty {
    fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            held: Arc::new(tokio::sync::watch::channel(false).0),
            waited: Arc::new(tokio::sync::watch::channel(0).0),
            failing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn hold_writes(&self) {
        self.held.send_replace(true);
    }

    fn release_writes(&self) {
        self.held.send_replace(false);
    }

    /// Returns once a subscription write is waiting (or has waited) on `hold_writes`.
    async fn a_write_waits(&self) {
        let _ = self.waited.subscribe().wait_for(|waited| *waited > 0).await;
    }
}

#[async_trait]
impl ConnectionStore for Faulty {
    async fn put_connection(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.inner.put_connection(record).await
    }
    async fn subscribe(&self, s: &Subscription<'_>, max: usize) -> Result<Subscribed, StoreError> {
        let mut held = self.held.subscribe();
        if *held.borrow() {
            self.waited.send_modify(|waited| *waited += 1);
        }
        let _ = held.wait_for(|held| !*held).await;
        self.inner.subscribe(s, max).await
    }
    async fn delete_subscription(&self, c: &str, e: &str) -> Result<(), StoreError> {
        self.inner.delete_subscription(c, e).await
    }
    async fn delete_connection(&self, c: &str) -> Result<Removal, StoreError> {
        self.inner.delete_connection(c).await
    }
    async fn subscribers(&self, e: &str) -> Result<Vec<Recipient>, StoreError> {
        if self.failing.load(Ordering::Acquire) {
            return Err(StoreError::Request {
                operation: "Query(GSI1)",
                message: "the store is down (test)".into(),
            });
        }
        self.inner.subscribers(e).await
    }
    async fn user_connections(&self, u: &str) -> Result<Vec<Recipient>, StoreError> {
        self.inner.user_connections(u).await
    }
    async fn subscriptions(&self, c: &str) -> Result<Vec<String>, StoreError> {
        self.inner.subscriptions(c).await
    }
    async fn append(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError> {
        self.inner.append(stream, message, retention, now).await
    }
    async fn stream_head(&self, s: Stream<'_>, now: i64) -> Result<Option<StreamHead>, StoreError> {
        if self.failing.load(Ordering::Acquire) {
            return Err(StoreError::Request {
                operation: "GetItem(stream head)",
                message: "the store is down (test)".into(),
            });
        }
        self.inner.stream_head(s, now).await
    }
    async fn stream_messages(
        &self,
        s: Stream<'_>,
        id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.stream_messages(s, id, serials, limit).await
    }
}

#[tokio::test(start_paused = true)]
async fn each_frame_is_its_own_invocation() {
    let store = MemoryStore::new();
    let faulty = Faulty::new(store.clone());
    let gw = ChannelGateway::with_store(GatewayConfig::default(), store, Arc::new(faulty.clone()));
    let mut client = gw.connect("ida").await;
    faulty.hold_writes();
    send_json(
        &mut client,
        json!({"action": "subscribe", "entityId": "slow"}),
    )
    .await;
    send_json(&mut client, json!({"action": "ping"})).await;
    // The ping is not held behind the subscribe that waits on the store.
    assert_eq!(next_json(&mut client, 5).await["type"], "Pong");
    faulty.release_writes();
    assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
}

#[tokio::test(start_paused = true)]
async fn a_busy_routes_function_throttles_like_lambda() {
    let store = MemoryStore::new();
    let faulty = Faulty::new(store.clone());
    let config = GatewayConfig {
        concurrency: wspush_gateway::functions::Concurrency {
            per_function: 1,
            events: 1,
        },
        ..GatewayConfig::default()
    };
    let gw = ChannelGateway::with_store(config, store, Arc::new(faulty.clone()));
    let mut client = gw.connect("jo").await;
    faulty.hold_writes();
    send_json(
        &mut client,
        json!({"action": "subscribe", "entityId": "slow"}),
    )
    .await;
    faulty.a_write_waits().await;
    assert_eq!(gw.state.functions().routes.stats().running, 1);
    send_json(&mut client, json!({"action": "ping"})).await;
    let throttled = next_json(&mut client, 5).await;
    assert_eq!(throttled["message"], "Internal server error", "{throttled}");
    assert_eq!(gw.state.functions().routes.stats().throttles, 1);
    faulty.release_writes();
    assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
}

fn subscribe(entity: &str) -> Message {
    Message::Text(
        json!({"action": "subscribe", "entityId": entity})
            .to_string()
            .into(),
    )
}

/// Replies to a client's own frames count against its client buffer, as `@connections` posts
/// do: with the client not reading, those that do not fit are dropped and counted (in
/// `/_gateway/connections` too), never queued beyond the limit.
#[tokio::test(start_paused = true)]
async fn replies_that_do_not_fit_the_client_buffer_are_dropped_and_counted() {
    let store = MemoryStore::new();
    let faulty = Faulty::new(store.clone());
    let limit = 1024;
    let mut config = GatewayConfig {
        limits: Limits {
            max_client_buffer_bytes: limit,
            ..Limits::default()
        },
        route_throttle: None,
        ..GatewayConfig::default()
    };
    // 300 subscriptions on one connection, all answered `Subscribed`.
    config.authorization.access.max_subscriptions_per_connection = 300;
    let gw = ChannelGateway::with_store(config, store, Arc::new(faulty.clone()));
    let mut client = gw.connect_with_buffer("ned", 4).await;
    let id = client.connection_id.clone();
    faulty.hold_writes();
    for n in 0..300 {
        client.codec_reads(Ok(subscribe(&format!("e{n}"))));
    }
    faulty.a_write_waits().await;
    // Every answer is ready at once when the store returns, and the client does not read.
    faulty.release_writes();
    let unread_peak = peak_queued_over(&gw, &id, 200).await;
    assert!(unread_peak <= limit, "{unread_peak} bytes queued");
    let dropped = replies_dropped(&gw, &id);
    assert!(dropped > 0, "the answers beyond the buffer were dropped");
    let listing = gw.get_json("/_gateway/connections").await;
    assert_eq!(
        listing["connections"][0]["repliesDropped"], dropped,
        "{listing}"
    );

    let (answers, reading_peak) = read_until_silent(&mut client, &gw).await;
    assert!(reading_peak <= limit, "{reading_peak} bytes queued");
    let dropped = replies_dropped(&gw, &id);
    let subscribed = count(&answers, "type", "Subscribed");
    assert_eq!(
        u64::try_from(subscribed).unwrap_or(u64::MAX) + dropped,
        300,
        "every frame answered or counted"
    );
}

/// One connection has at most `MAX_INVOCATIONS_PER_CONNECTION` route invocations running;
/// its further frames wait unread (not answered, not throttled) until one finishes.
#[tokio::test(start_paused = true)]
async fn one_connection_runs_at_most_its_bound_of_invocations() {
    let store = MemoryStore::new();
    let faulty = Faulty::new(store.clone());
    let gw = ChannelGateway::with_store(GatewayConfig::default(), store, Arc::new(faulty.clone()));
    let mut client = gw.connect("oz").await;
    faulty.hold_writes();
    for n in 0..100 {
        client.codec_reads(Ok(subscribe(&format!("e{n}"))));
    }
    faulty.a_write_waits().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let routes = || gw.state.functions().routes.stats();
    assert_eq!(routes().running, MAX_INVOCATIONS_PER_CONNECTION);
    assert!(silent_for(&mut client, 10).await, "the frames beyond wait");
    faulty.release_writes();
    for _ in 0..100 {
        assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");
    }
    assert_eq!(routes().peak_running, MAX_INVOCATIONS_PER_CONNECTION);
    let subscriptions = gw.store.subscriptions(&client.connection_id).await;
    assert_eq!(subscriptions.map(|s| s.len()).ok(), Some(100));
}

async fn put_events(gw: &TestGateway, entries: Value) -> Value {
    let response = json11_post(
        &gw.http(),
        "AWSEvents.PutEvents",
        &json!({ "Entries": entries }).to_string(),
    )
    .await;
    serde_json::from_str(&response).expect("JSON answer")
}

/// A JSON 1.1 POST with a plain HTTP/1.1 client (hyper), as the aws CLI sends it.
async fn json11_post(base: &str, target: &str, body: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn entity_event(entity: &str, n: usize) -> Value {
    json!({
        "Source": "test",
        "DetailType": "Entity Updated",
        "Detail": json!({"entityId": entity, "message": n}).to_string(),
    })
}

#[tokio::test]
async fn failed_events_are_received_again_then_dead_lettered_and_redriven() {
    let store = MemoryStore::new();
    let faulty = Faulty::new(store.clone());
    let config = GatewayConfig {
        queues: QueueSettings {
            visibility_timeout: Duration::from_millis(50),
            ..QueueSettings::default()
        },
        ..GatewayConfig::default()
    };
    let max_receives = config.queues.max_receive_count;
    let gw = TestGateway::start_with_store(config, store, Arc::new(faulty.clone())).await;
    let mut client = gw.connect("kim").await;
    send_json(
        &mut client,
        json!({"action": "subscribe", "entityId": "e1"}),
    )
    .await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Subscribed");

    faulty.failing.store(true, Ordering::Release);
    let answer = put_events(&gw, json!([entity_event("e1", 1)])).await;
    assert_eq!(answer["FailedEntryCount"], 0);
    assert!(eventually(10, || gw.state.queues().dead_letters().len() == 1).await);
    let dead = &gw.state.queues().dead_letters()[0];
    assert_eq!(
        dead.receive_count, max_receives,
        "dead-lettered after its last receive"
    );
    assert_eq!(dead.event["detail"]["entityId"], "e1");
    // A passing fault is retried, not dead-lettered at once: the reason is the receive the
    // redrive policy gave up after, with no error code from the events function.
    assert_eq!(
        dead.last_error,
        format!("the events function reported the record failed on receive {max_receives}")
    );
    assert_eq!(dead.error_code, None);
    assert_eq!(
        gw.state.functions().events.stats().invocations,
        u64::from(max_receives),
        "received {max_receives} times"
    );
    assert!(
        silent_for(&mut client, 100).await,
        "nothing delivered while failing"
    );

    faulty.failing.store(false, Ordering::Release);
    let body = http_post(&gw, "/_gateway/dead-letters/redrive").await;
    assert_eq!(body["redriven"], 1);
    assert_eq!(next_json(&mut client, 5).await["entityId"], "e1");
    assert!(gw.state.queues().dead_letters().is_empty());
    gw.stop().await;
}

async fn http_post(gw: &TestGateway, path: &str) -> Value {
    let addr = gw.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).expect("JSON")
}

#[tokio::test]
async fn one_put_events_request_is_one_sqs_batch() {
    let gw = TestGateway::start().await;
    let entries: Vec<Value> = (0..10).map(|n| entity_event("nobody", n)).collect();
    let answer = put_events(&gw, json!(entries)).await;
    assert_eq!(answer["FailedEntryCount"], 0);
    assert!(eventually(5, || gw.state.queues().all().iter().all(|q| q.depth() == 0)).await);
    assert_eq!(
        gw.state.functions().events.stats().invocations,
        1,
        "ten events, batch size ten, one invocation"
    );
    gw.stop().await;
}

#[tokio::test]
async fn put_events_counts_entry_sizes_as_eventbridge_does() {
    let gw = TestGateway::start().await;
    // Two entries of 130 KB each: every byte counts, the request is over 256 KB.
    let detail = json!({"entityId": "e", "message": "x".repeat(130 * 1024)}).to_string();
    let entry = json!({"Source": "s", "DetailType": "Entity Updated", "Detail": detail});
    let answer = put_events(&gw, json!([entry.clone(), entry])).await;
    assert_eq!(answer["__type"], "ValidationException", "{answer}");
    let eleven: Vec<Value> = (0..11).map(|n| entity_event("e", n)).collect();
    let answer = put_events(&gw, json!(eleven)).await;
    assert_eq!(answer["__type"], "ValidationException", "{answer}");
    gw.stop().await;
}

/// Every field of AWS's documented event shapes (the fixtures in `runtime/tests/fixtures/`) is
/// in the events the gateway builds, apart from those listed as not emulated in the README:
/// API Gateway's authorizer and WebSocket events, the EventBridge event `PutEvents` delivers,
/// and the SQS event its queue sends to the events function.
#[test]
fn built_events_carry_every_field_of_aws_shapes() {
    const NOT_EMULATED: [&str; 1] = ["requestContext.authorizer.integrationLatency"];
    // What a client or a sender chose rather than the shape every event has: the handshake's
    // headers and query parameters, and the attribute the documented SQS message's sender
    // attached (EventBridge's SQS target attaches none).
    const SENDERS_DATA: [&str; 5] = [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "Records[].messageAttributes.myAttribute",
    ];
    let senders = |p: &str| {
        SENDERS_DATA
            .iter()
            .any(|d| p == *d || p.starts_with(&format!("{d}.")))
    };
    let missing = |expected: &Value, built: &Value| -> Vec<String> {
        let have = paths(built);
        paths(expected)
            .into_iter()
            .filter(|p| !senders(p))
            .filter(|p| !NOT_EMULATED.contains(&p.as_str()))
            .filter(|p| !have.contains(p))
            .collect()
    };

    let config = GatewayConfig::default();
    let cases = api_gateway_events(&config)
        .into_iter()
        .chain(queued_events(&config));
    for (name, built) in cases {
        assert_eq!(
            missing(&fixture(name), &built),
            Vec::<String>::new(),
            "{name}"
        );
        // And the runtime classifies what the gateway sends as AWS's shape is classified.
        let expected = wspush_runtime::event::classify(fixture(name))
            .expect("fixture")
            .kind();
        let got = wspush_runtime::event::classify(built)
            .expect("built")
            .kind();
        assert_eq!(got, expected, "{name}");
    }
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../runtime/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

/// The events API Gateway sends to the functions, for a handshake and a connection like the
/// fixtures'.
fn api_gateway_events(config: &GatewayConfig) -> Vec<(&'static str, Value)> {
    use std::sync::atomic::AtomicI64;
    use wspush_gateway::client::{Body, Handshake};
    use wspush_gateway::integration;
    use wspush_gateway::registry::ConnectionInfo;

    let hello = Handshake {
        connection_id: "SmL1KdNCoAMCKdw=".into(),
        request_id: "r".into(),
        connected_at_ms: 1,
        source_ip: "192.0.2.1".into(),
        user_agent: Some("test".into()),
        domain_name: "localhost".into(),
        headers: vec![("host".into(), "localhost".into())],
        query: vec![("access_token".into(), "t".into())],
    };
    let context: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "principalId": "myuserid", "userId": "myuserid", "firstName": "Test",
        "lastName": "User", "sub": "examplesub"
    }))
    .expect("object");
    let info = ConnectionInfo {
        connection_id: hello.connection_id.clone(),
        connected_at_ms: 1,
        last_active_ms: AtomicI64::new(1),
        source_ip: hello.source_ip.clone(),
        user_agent: hello.user_agent.clone(),
        authorizer: context.clone(),
    };
    let body = Body::Text(r#"{"action":"subscribe","entityId":"myEntityId"}"#.into());
    vec![
        (
            "authorizer-request.json",
            integration::authorizer_event(config, &hello),
        ),
        (
            "websocket-connect.json",
            integration::connect_event(config, &hello, &context),
        ),
        (
            "websocket-subscribe.json",
            integration::message_event(config, &info, "localhost", "subscribe", &body),
        ),
        (
            "websocket-disconnect.json",
            integration::disconnect_event(config, &info, "localhost", 1001, "Going away"),
        ),
    ]
}

/// The EventBridge event `PutEvents` builds from an entry carrying the documented event's
/// fields, and the SQS event its rule's queue sends to the events function for it.
fn queued_events(config: &GatewayConfig) -> Vec<(&'static str, Value)> {
    use wspush_gateway::eventbridge::{self, Entry};
    use wspush_gateway::queues::{Message, Queues};

    let documented = fixture("eventbridge-event.json");
    let entry: Entry = serde_json::from_value(json!({
        "Source": documented["source"],
        "DetailType": documented["detail-type"],
        "Detail": documented["detail"].to_string(),
        "Resources": documented["resources"],
    }))
    .expect("a PutEvents entry");
    let event = eventbridge::check(config, entry).expect("accepted");
    let queues = Queues::new(config);
    let queue = queues.all().first().expect("a queue per rule");
    let batch = [Message::new(event.clone()), Message::new(event.clone())];
    let sqs = queue.sqs_event(&batch);
    vec![
        (
            "eventbridge-event.json",
            serde_json::to_value(&event).expect("JSON"),
        ),
        ("sqs-event.json", serde_json::to_value(&sqs).expect("JSON")),
    ]
}

/// A JSON value's structure as a set of paths (`requestContext.identity.sourceIp`; the fields
/// of an array's objects under `name[]`, as `Records[].messageId`), for comparing what the
/// gateway sends with AWS's documented shapes. A field whose value is null is left out: a
/// documented field must carry a value.
fn paths(value: &Value) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter().filter(|(_, child)| !child.is_null()) {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.push(path.clone());
                    walk(&path, child, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(&format!("{prefix}[]"), item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out.sort();
    out.dedup();
    out
}

/// One raw HTTP/1.1 request; the status line, headers and body of the answer.
async fn raw_http(gw: &TestGateway, head: &str, body: &[u8]) -> (u16, String, String) {
    let addr = gw.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write head");
    // The server may answer before reading the whole body; a broken pipe then is fine.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw).await;
    parse_answer(&raw)
}

#[tokio::test]
async fn oversize_bodies_get_each_apis_own_error() {
    let gw = TestGateway::start().await;
    let _client = gw.connect("lu").await;
    let id = only_connection(&gw).await;
    let big = vec![b'x'; 3 * 1024 * 1024];
    let encoded = id
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, head, _) = raw_http(
        &gw,
        &format!("POST /production/@connections/{encoded} HTTP/1.1"),
        &big,
    )
    .await;
    assert_eq!(status, 413);
    assert!(
        head.contains("x-amzn-errortype: payloadtoolargeexception"),
        "{head}"
    );

    let (status, head, body) = raw_http(
        &gw,
        "POST / HTTP/1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1",
        &big,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        head.contains("x-amzn-errortype: validationexception"),
        "{head}"
    );

    let huge = vec![b' '; 7 * 1024 * 1024];
    let (status, head, _) = raw_http(
        &gw,
        "POST /2015-03-31/functions/CreateTestJwt/invocations HTTP/1.1",
        &huge,
    )
    .await;
    assert_eq!(status, 413);
    assert!(
        head.contains("x-amzn-errortype: requesttoolargeexception"),
        "{head}"
    );
    gw.stop().await;
}

/// Sockets that never finish their handshake request are closed after the handshake timeout
/// (10 s), and at most `max_pending_connections` of them are held at once.
#[tokio::test(start_paused = true)]
async fn silent_and_slow_handshakes_are_closed_and_bounded() {
    use tokio::io::AsyncReadExt;
    let config = GatewayConfig {
        limits: Limits {
            max_pending_connections: 4,
            ..Limits::default()
        },
        ..GatewayConfig::default()
    };
    let gw = TestGateway::start_with(config).await;
    let started = tokio::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(
            tokio::net::TcpStream::connect(gw.addr)
                .await
                .expect("connect"),
        );
    }
    // A fifth is closed at once: every pending slot is taken.
    let mut fifth = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let mut byte = [0u8; 1];
    let asked = tokio::time::Instant::now();
    let read = fifth.read(&mut byte).await;
    assert!(matches!(read, Ok(0) | Err(_)), "closed: {read:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "closed at once, not by the header timeout: {:?}",
        asked.elapsed()
    );
    // A slow one trickles its request line; the silent ones send nothing. All are closed by
    // the header timeout.
    silent[0]
        .write_all(b"GET /production HTTP/1.1\r\n")
        .await
        .expect("trickle");
    for socket in &mut silent {
        let read = tokio::time::timeout(Duration::from_secs(60), socket.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "closed: {read:?}");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The slots are free again: a real client connects.
    let _client = gw.connect("mo").await;
    gw.stop().await;
}

#[tokio::test]
async fn urls_over_4096_characters_and_connections_over_the_quota_are_refused() {
    let gw = TestGateway::start_with(GatewayConfig {
        connect_rate: Some(2),
        ..GatewayConfig::default()
    })
    .await;
    let token = gw.token("ned");
    let long = format!(
        "{}?access_token={token}&pad={}",
        gw.ws_url(),
        "x".repeat(4096)
    );
    let refused = connect_raw(&long, None).await.expect_err("URL too long");
    assert_eq!(refusal_status(&refused), Some(414));
    // The quota (2 a second here, 500 on AWS): the burst passes, the next is refused.
    let url = format!("{}?access_token={token}", gw.ws_url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(match connect_raw(&url, None).await {
            Ok(_) => 101,
            Err(e) => refusal_status(&e).unwrap_or(0),
        });
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 101).count(),
        2,
        "{statuses:?}"
    );
    gw.stop().await;
}
