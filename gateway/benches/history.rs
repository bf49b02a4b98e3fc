//! What streams cost and what a replay saves, through the local gateway.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench history -- [--subscribers 10000] [--rounds 3] [--missed 1000] [--store embedded|dynamodb]
//! ```
//! (`--store dynamodb` needs `DYNAMODB_ENDPOINT`, e.g. DynamoDB Local; each gateway gets a
//! fresh table.)
//!
//! 1. **The history write's cost on a fan-out.** With streams on, each event is first written
//!    to its entity's stream (one conditional transaction) and every push carries its position.
//!    The same fan-out as the `fanout` bench (one PutEvents until all N subscribers hold their
//!    push, `signed-http` push client) runs on a gateway with streams off
//!    (`--history-max-messages 0`) and on one with streams on, each with its own N clients.
//!    On a shared machine the speed drifts over a run, so the settings alternate (off, on, off,
//!    on, `--rounds` fan-outs each) and the medians over all rounds of each are compared. One
//!    audience is closed before the next opens: the clients live in this process, under a
//!    descriptor limit that two audiences of 10,000 would exceed.
//! 2. **A replay of `--missed` messages.** A client subscribes (its position: no stream,
//!    serial 0) and leaves; `--missed` events for its entity are published (PutEvents of 10
//!    entries) and stored. Back on a new connection, it subscribes with that position: the time
//!    runs from the subscribe until its `Subscribed` reply, and every message must arrive
//!    before it, once and in serial order. Baseline, on the same connection in the same run:
//!    as many sequential `@connections` POSTs of a frame of the same size with the ordinary SDK
//!    client, each awaited, until the client holds them all: what a handler without a replay
//!    would do. A second comparison reads the same messages through `history` pages of 100.
//!    Each of `--rounds` rounds uses a new entity; the medians are compared.
//!
//! Any check that fails (a push missing, repeated or out of order, a reply of the wrong
//! shape) ends the bench with a non-zero status and says what it saw. With `BENCH_REPORT` set,
//! each figure is also recorded for `docs/performance.md`.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::start_gateway;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use wspush_contract::{defaults, error_codes, push_clients};
use wspush_tools::cli::{number, store};
use wspush_tools::clients::{clients, collect, connect, no_more_frames, Arrival, Socket};
use wspush_tools::gateway::{store_options, Gateway};
use wspush_tools::local_api::{connection_ids, put_entity_events, put_events, MAX_ENTRIES};
use wspush_tools::report::{median, ms, thousands, Figure};
use wspush_tools::Fail;

/// The table of `docs/performance.md` these figures go to.
const TABLE: &str = "Streams: history write and replay (`history`)";

/// Messages a `history` page holds at most (the protocol's largest `limit`).
const PAGE: u64 = 100;

/// The longest wait for one frame, or for the missed messages to be stored.
const PATIENCE: Duration = Duration::from_secs(120);

/// The user who leaves and comes back, and the one who watches the stream meanwhile.
const RETURNING_USER: &str = "returning";
const WATCHER: &str = "watcher";

struct Settings {
    subscribers: usize,
    rounds: usize,
    missed: u64,
    store: String,
    /// DynamoDB Local's URL with `--store dynamodb`.
    endpoint: Option<String>,
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let (store, endpoint) = store(&args)?;
    let settings = Settings {
        subscribers: number(&args, "--subscribers", 10_000)?,
        rounds: number(&args, "--rounds", 3)?.max(1),
        missed: number(&args, "--missed", 1_000)?.max(1) as u64,
        store,
        endpoint,
    };
    if settings.missed > defaults::HISTORY_MAX_MESSAGES_LIMIT {
        return Err(format!(
            "--missed: a stream keeps at most {} messages",
            defaults::HISTORY_MAX_MESSAGES_LIMIT
        )
        .into());
    }
    println!(
        "history bench, {} store, {} subscribers, {} missed messages, {} rounds",
        settings.store, settings.subscribers, settings.missed, settings.rounds
    );
    let runtime = wspush_tools::cli::runtime()?;
    runtime.block_on(write_cost(&settings))?;
    runtime.block_on(replays(&settings))
}

/// A gateway's options: the store, the `signed-http` push client, and `extra`.
fn gateway_options(settings: &Settings, extra: &[String]) -> Vec<String> {
    let mut options = store_options(settings.endpoint.as_deref());
    options.extend(["--push-client".into(), push_clients::SIGNED_HTTP.into()]);
    options.extend_from_slice(extra);
    options
}

fn fresh_entity() -> String {
    format!("bench-{}", uuid::Uuid::new_v4().simple())
}

// ---- 1. the history write's cost on a fan-out ----

/// Streams off, on, off, on: the medians of all rounds of each, compared.
async fn write_cost(settings: &Settings) -> Result<(), Fail> {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for streams in [false, true, false, true] {
        let times = fanouts(settings, streams).await?;
        if streams { &mut on } else { &mut off }.extend(times);
    }
    let figure = format!(
        "fan-out to {} with streams on against off, `signed-http` push client, {} store",
        thousands(settings.subscribers as u64),
        settings.store
    );
    let count = on.len();
    let (on, off) = (median(on), median(off));
    compare(
        figure,
        ("streams on", on),
        ("streams off", off),
        count,
        "(the history write's cost)",
    )
}

/// One gateway, streams on or off, with its own subscribers: each round's fan-out time.
async fn fanouts(settings: &Settings, streams: bool) -> Result<Vec<Duration>, Fail> {
    let off = ["--history-max-messages".to_string(), "0".to_string()];
    let extra: &[String] = if streams { &[] } else { &off };
    let gateway = start_gateway(&gateway_options(settings, extra)).await?;
    let (n, entity) = (settings.subscribers, fresh_entity());
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let setup = Instant::now();
    let closers = clients(gateway.addr, 0, n, Some(&entity), &tx).await?;
    drop(tx);
    let setup = setup.elapsed();
    let mut times = Vec::with_capacity(settings.rounds);
    for _ in 0..settings.rounds {
        let started = Instant::now();
        put_events(gateway.addr, &entity).await?;
        let (all, _) = collect(n, started, &mut arrivals).await?;
        no_more_frames(&mut arrivals, Duration::from_millis(500)).await?;
        times.push(all);
    }
    let shown: Vec<String> = times.iter().map(|t| format!("{:.1}", ms(*t))).collect();
    println!(
        "  streams {}: fan-outs {} ms (set up in {:.1} s)",
        if streams { "on " } else { "off" },
        shown.join(", "),
        setup.as_secs_f64()
    );
    check_streams(gateway.addr, &entity, streams, settings.rounds as u64).await?;
    drop(closers);
    close_audience(gateway, arrivals).await?;
    Ok(times)
}

/// Proves the setting took effect: with streams on the entity's stream holds one message per
/// round; with streams off `history` is refused as disabled.
async fn check_streams(
    addr: SocketAddr,
    entity: &str,
    streams: bool,
    rounds: u64,
) -> Result<(), Fail> {
    let mut ws = connect(addr, WATCHER).await?;
    let reply = ask(
        &mut ws,
        &json!({"action": "history", "entityId": entity, "limit": 1}),
    )
    .await?;
    close(ws).await;
    let expected = if streams {
        reply["type"] == "History" && reply["serial"] == rounds
    } else {
        reply["type"] == "Error" && reply["code"] == error_codes::HISTORY_DISABLED
    };
    if !expected {
        let want = if streams {
            format!("a History reply at serial {rounds}")
        } else {
            format!("a {} error", error_codes::HISTORY_DISABLED)
        };
        let setting = if streams { "on" } else { "off" };
        return Err(format!("with streams {setting}: expected {want}, got {reply}").into());
    }
    Ok(())
}

/// Stops the gateway (which closes every socket) and waits until every client's task has ended,
/// so the next audience has the descriptors back.
async fn close_audience(
    gateway: Gateway,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> Result<(), Fail> {
    gateway.stop().await?;
    tokio::time::timeout(PATIENCE, async { while arrivals.recv().await.is_some() {} })
        .await
        .map_err(|_| "the clients did not close within two minutes of the gateway stopping")?;
    Ok(())
}

// ---- 2. a replay of the missed messages ----

/// Each round's replay, its baseline, and the same messages read through `history` pages.
struct CatchUp {
    replay: Duration,
    baseline: Duration,
    pages: Duration,
}

/// One gateway with streams on (keeping at least `--missed` messages), `--rounds` replays.
async fn replays(settings: &Settings) -> Result<(), Fail> {
    let mut extra = Vec::new();
    if settings.missed > defaults::HISTORY_MAX_MESSAGES {
        extra = vec![
            "--history-max-messages".to_string(),
            settings.missed.to_string(),
        ];
    }
    let gateway = start_gateway(&gateway_options(settings, &extra)).await?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let endpoint = format!("http://{}/production", gateway.addr);
    let api = wspush_runtime::aws::management_client(&sdk, &endpoint);
    let mut rounds = Vec::with_capacity(settings.rounds);
    for _ in 0..settings.rounds {
        let round = catch_up(gateway.addr, &api, settings.missed).await?;
        println!(
            "  replay {:.1} ms, sequential @connections {:.1} ms, history pages {:.1} ms",
            ms(round.replay),
            ms(round.baseline),
            ms(round.pages)
        );
        rounds.push(round);
    }
    gateway.stop().await?;
    report_replays(settings, rounds)
}

/// One round: a client leaves, misses `missed` messages, comes back and replays them; then
/// the baseline and the history pages on the same connection.
async fn catch_up(
    addr: SocketAddr,
    api: &aws_sdk_apigatewaymanagement::Client,
    missed: u64,
) -> Result<CatchUp, Fail> {
    let entity = fresh_entity();
    subscribe_and_leave(addr, &entity).await?;
    let published = Instant::now();
    publish(addr, &entity, missed).await?;
    wait_for_head(addr, &entity, missed).await?;
    println!(
        "  {missed} messages published and stored in {:.1} ms",
        ms(published.elapsed())
    );
    let before = connection_ids(addr).await?;
    let mut ws = connect(addr, RETURNING_USER).await?;
    let id = new_connection(addr, &before).await?;
    let (replay, frame_bytes) = timed_replay(&mut ws, &entity, missed).await?;
    let baseline = timed_posts(api, &id, &mut ws, frame_bytes, missed).await?;
    let pages = timed_pages(&mut ws, &entity, missed).await?;
    close(ws).await;
    Ok(CatchUp {
        replay,
        baseline,
        pages,
    })
}

/// Subscribes to a stream nothing was published on (position: no stream, serial 0), then
/// closes the socket.
async fn subscribe_and_leave(addr: SocketAddr, entity: &str) -> Result<(), Fail> {
    let mut ws = connect(addr, RETURNING_USER).await?;
    let reply = ask(&mut ws, &json!({"action": "subscribe", "entityId": entity})).await?;
    let expected = json!({"type": "Subscribed", "entityId": entity, "streamId": null, "serial": 0});
    if reply != expected {
        return Err(format!("first subscribe: expected {expected}, got {reply}").into());
    }
    close(ws).await;
    Ok(())
}

/// `count` "Entity Updated" events for `entity`, up to ten to a PutEvents.
async fn publish(addr: SocketAddr, entity: &str, count: u64) -> Result<(), Fail> {
    let mut left = count as usize;
    while left > 0 {
        let batch = left.min(MAX_ENTRIES);
        put_entity_events(addr, entity, batch).await?;
        left -= batch;
    }
    Ok(())
}

/// Waits until the entity's stream holds `count` messages, asking another user's connection.
async fn wait_for_head(addr: SocketAddr, entity: &str, count: u64) -> Result<(), Fail> {
    let mut ws = connect(addr, WATCHER).await?;
    let newest = json!({"action": "history", "entityId": entity, "limit": 1});
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = ask(&mut ws, &newest).await?;
        let serial = page["serial"]
            .as_u64()
            .ok_or_else(|| format!("history: expected a History page, got {page}"))?;
        if serial == count {
            break;
        }
        if serial > count {
            return Err(format!(
                "{count} events were published, but the stream is at serial {serial}"
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{count} events were published; after two minutes the stream holds {serial}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    close(ws).await;
    Ok(())
}

/// The one connection in the gateway's list that was not in `before`.
async fn new_connection(addr: SocketAddr, before: &[String]) -> Result<String, Fail> {
    for _ in 0..100 {
        let ids = connection_ids(addr).await?;
        let new: Vec<String> = ids.into_iter().filter(|id| !before.contains(id)).collect();
        match new.as_slice() {
            [id] => return Ok(id.clone()),
            [] => tokio::time::sleep(Duration::from_millis(20)).await,
            several => return Err(format!("expected one new connection, found {several:?}").into()),
        }
    }
    Err("the returning client's connection never appeared in /_gateway/connections".into())
}

/// Subscribes with the position `(null, 0)` and reads the replay: the time until the
/// `Subscribed` reply, and the pushes' mean size in bytes.
async fn timed_replay(
    ws: &mut Socket,
    entity: &str,
    missed: u64,
) -> Result<(Duration, usize), Fail> {
    let since = json!({"action": "subscribe", "entityId": entity,
        "since": {"streamId": null, "serial": 0}});
    send(ws, &since).await?;
    let started = Instant::now();
    let mut serials = Serials::default();
    loop {
        let text = next_text(ws).await?;
        let frame: Value = serde_json::from_str(&text)?;
        match frame["type"].as_str() {
            Some("Entity Updated") => serials.take(&frame, text.len(), "replay")?,
            Some("Subscribed") => {
                let elapsed = started.elapsed();
                serials.replayed(&frame, missed)?;
                return Ok((elapsed, serials.bytes / missed as usize));
            }
            _ => {
                return Err(
                    format!("during the replay, after serial {}: {text}", serials.last).into(),
                )
            }
        }
    }
}

/// The baseline: `count` sequential PostToConnection calls of a `bytes`-long frame to `id`,
/// each awaited, until the client holds them all.
async fn timed_posts(
    api: &aws_sdk_apigatewaymanagement::Client,
    id: &str,
    ws: &mut Socket,
    bytes: usize,
    count: u64,
) -> Result<Duration, Fail> {
    let frame = padded_frame(bytes);
    let started = Instant::now();
    let posts = async {
        for sent in 0..count {
            api.post_to_connection()
                .connection_id(id)
                .data(Blob::new(frame.clone()))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "baseline PostToConnection {sent} to {id}: {}",
                        DisplayErrorContext(e)
                    )
                })?;
        }
        Ok::<(), Fail>(())
    };
    let held = async {
        for received in 0..count {
            let text = next_text(ws).await?;
            if text != frame {
                return Err(format!(
                    "baseline frame {received}: expected the posted frame, got {text}"
                )
                .into());
            }
        }
        Ok::<Duration, Fail>(started.elapsed())
    };
    Ok(tokio::try_join!(posts, held)?.1)
}

/// A frame of `bytes` bytes (or the shortest frame, when that is longer).
fn padded_frame(bytes: usize) -> String {
    let shortest = json!({"type": "Baseline", "pad": ""}).to_string();
    let pad = "x".repeat(bytes.saturating_sub(shortest.len()));
    json!({"type": "Baseline", "pad": pad}).to_string()
}

/// Reads the stream from its start through `history` pages of [`PAGE`] (`after`), checking
/// every message comes once and in order: the time for all `count`.
async fn timed_pages(ws: &mut Socket, entity: &str, count: u64) -> Result<Duration, Fail> {
    let mut serials = Serials::default();
    let started = Instant::now();
    loop {
        let request =
            json!({"action": "history", "entityId": entity, "after": serials.last, "limit": PAGE});
        let page = ask(ws, &request).await?;
        let messages = page["messages"].as_array().ok_or_else(|| {
            format!(
                "history after {}: expected a History page, got {page}",
                serials.last
            )
        })?;
        for message in messages {
            serials.take(message, 0, "history")?;
        }
        if page["more"] != true {
            break;
        }
    }
    let elapsed = started.elapsed();
    if serials.last != count {
        return Err(format!(
            "history pages held serials 1 to {} of {count}",
            serials.last
        )
        .into());
    }
    Ok(elapsed)
}

/// The serials seen so far of one stream, which must come as 1, 2, 3, … of one generation.
#[derive(Default)]
struct Serials {
    last: u64,
    stream_id: Option<String>,
    bytes: usize,
}

impl Serials {
    /// Takes the next push (`bytes` long); fails on a repeat, a gap or another generation.
    fn take(&mut self, push: &Value, bytes: usize, what: &str) -> Result<(), Fail> {
        let serial = push["serial"]
            .as_u64()
            .ok_or_else(|| format!("{what}: a push without a serial: {push}"))?;
        let stream_id = push["streamId"].as_str().map(str::to_string);
        if stream_id.is_none() || (self.last > 0 && stream_id != self.stream_id) {
            return Err(format!("{what}: serial {serial} of another generation: {push}").into());
        }
        if serial != self.last + 1 {
            let fault = if serial <= self.last {
                "a repeat or out of order"
            } else {
                "serials missing before it"
            };
            return Err(format!("{what}: serial {serial} after {}: {fault}", self.last).into());
        }
        (self.last, self.stream_id, self.bytes) = (serial, stream_id, self.bytes + bytes);
        Ok(())
    }

    /// Checks the reply that ends a replay: every message was replayed, and it says so.
    fn replayed(&self, reply: &Value, missed: u64) -> Result<(), Fail> {
        if reply["more"] == true {
            return Err(format!(
                "the replay stopped at its deadline after {} of {missed} messages: {reply}",
                self.last
            )
            .into());
        }
        let complete = self.last == missed
            && reply["replayed"] == missed
            && reply["serial"] == missed
            && reply["streamId"].as_str() == self.stream_id.as_deref();
        if !complete {
            return Err(format!("replay: {} pushes in order before {reply}; expected {missed}, all said in the reply", self.last).into());
        }
        Ok(())
    }
}

fn report_replays(settings: &Settings, rounds: Vec<CatchUp>) -> Result<(), Fail> {
    let count = rounds.len();
    let replay = median(rounds.iter().map(|r| r.replay).collect());
    let baseline = median(rounds.iter().map(|r| r.baseline).collect());
    let pages = median(rounds.iter().map(|r| r.pages).collect());
    let (missed, store) = (thousands(settings.missed), &settings.store);
    compare(
        format!("replay of {missed} missed messages on subscribe, {store} store"),
        ("replay", replay),
        (
            "sequential `@connections` calls of the same frame size",
            baseline,
        ),
        count,
        "(comparison)",
    )?;
    compare(
        format!("the same {missed} messages through `history` pages of {PAGE}, {store} store"),
        ("`history` pages", pages),
        ("the replay", replay),
        count,
        "(comparison)",
    )
}

/// One figure, `result` against `baseline` (each the median of `count` rounds): printed as
/// one line, and recorded.
fn compare(
    figure: String,
    (result, time): (&str, Duration),
    (baseline, baseline_time): (&str, Duration),
    count: usize,
    purpose: &str,
) -> Result<(), Fail> {
    let ratio = ms(time) / ms(baseline_time);
    println!(
        "{figure}: {result} {:.1} ms | {baseline} {:.1} ms | ratio {ratio:.2} (medians of {count} rounds)",
        ms(time),
        ms(baseline_time)
    );
    Figure::new(
        TABLE,
        figure,
        format!("{result}: {:.0} ms (median of {count})", ms(time)),
    )
    .baseline(format!("{baseline}: {:.0} ms", ms(baseline_time)))
    .ratio(ratio)
    .purpose(purpose)
    .record()?;
    Ok(())
}

// ---- one socket's frames ----

async fn send(ws: &mut Socket, frame: &Value) -> Result<(), Fail> {
    Ok(ws.send(Message::Text(frame.to_string().into())).await?)
}

/// The next text frame (pings and pongs pass by).
async fn next_text(ws: &mut Socket) -> Result<String, Fail> {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .map_err(|_| "no frame for two minutes")?;
        match message {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => return Err(format!("expected a text frame, got {other:?}").into()),
        }
    }
}

/// Sends `frame` and returns its reply; a frame the stage's route throttle refused is
/// resubmitted a little later.
async fn ask(ws: &mut Socket, frame: &Value) -> Result<Value, Fail> {
    loop {
        send(ws, frame).await?;
        let reply: Value = serde_json::from_str(&next_text(ws).await?)?;
        if reply["message"] != defaults::THROTTLED_MESSAGE {
            return Ok(reply);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Closes `ws` and waits briefly for the gateway's answering close frame.
async fn close(mut ws: Socket) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
