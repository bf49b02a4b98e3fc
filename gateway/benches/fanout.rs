//! Fan-out time through the local gateway: one PutEvents to N subscribers of one entity.
//!
//! ```text
//! cargo bench -p wspush-gateway --bench fanout -- [--subscribers 1000,10000] [--store embedded|dynamodb]
//! ```
//! (`--store dynamodb` needs `DYNAMODB_ENDPOINT`, e.g. DynamoDB Local; a fresh table is used.)
//!
//! The gateway runs in a child process of this same binary (`--serve`), on 127.0.0.1 port 0:
//! 10,000 clients and their 10,000 server-side sockets would not fit one process under a
//! 20,000 file-descriptor limit. The parent opens N WebSocket clients, subscribes each to one
//! entity (waiting for every `Subscribed`), then measures from sending PutEvents over HTTP
//! until every client holds its push, and checks that nobody got a second frame.
//!
//! Baseline, measured in the same run on the same sockets: N sequential `@connections` POSTs
//! with the ordinary SDK client (concurrency 1, each waiting for its answer), until every
//! client has that frame. The ratio fan-out / baseline is what the numbers mean elsewhere.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use wspush_gateway::store::StoreChoice;
use wspush_gateway::GatewayConfig;
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};
use wspush_runtime::config::JwtSettings;

const SECRET: &str = "fanout-bench-secret";
const CONNECT_CONCURRENCY: usize = 100;

type Fail = Box<dyn std::error::Error + Send + Sync>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.iter().any(|a| a == "--serve") {
        return runtime.block_on(serve(arg(&args, "--dynamodb-endpoint")));
    }
    let store = arg(&args, "--store").unwrap_or_else(|| "embedded".into());
    let sizes: Vec<usize> = arg(&args, "--subscribers")
        .unwrap_or_else(|| "1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?;
    let endpoint = match store.as_str() {
        "embedded" => None,
        "dynamodb" => Some(std::env::var("DYNAMODB_ENDPOINT").map_err(|_| {
            "--store dynamodb needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string()
        })?),
        other => return Err(format!("--store must be embedded or dynamodb, not {other}").into()),
    };
    println!("fan-out bench, {store} store, subscribers {sizes:?}");
    for n in sizes {
        runtime.block_on(measure(n, &store, endpoint.clone()))?;
    }
    Ok(())
}

/// Child mode: the gateway in this process, port printed on stdout, until stdin closes.
async fn serve(dynamodb_endpoint: Option<String>) -> Result<(), Fail> {
    let config = GatewayConfig::default();
    let choice = match dynamodb_endpoint {
        Some(endpoint) => StoreChoice::DynamoDb {
            endpoint,
            table: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            index: "GSI1".into(),
        },
        None => StoreChoice::Embedded,
    };
    let store = wspush_gateway::store::build(&choice, &config.region).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = wspush_gateway::state(config, store, SECRET.as_bytes(), addr);
    println!("listening on {addr}");
    let stop = async {
        // The parent closes our stdin when it is done (or dies).
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    wspush_gateway::serve(listener, state, stop).await?;
    Ok(())
}

struct Child {
    process: tokio::process::Child,
    addr: SocketAddr,
}

async fn start_child(endpoint: Option<String>) -> Result<Child, Fail> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(endpoint) = endpoint {
        command.args(["--dynamodb-endpoint", &endpoint]);
    }
    let mut process = command.spawn()?;
    let stdout = process.stdout.take().ok_or("child has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.strip_prefix("listening on ") {
            return Ok(Child {
                process,
                addr: addr.parse()?,
            });
        }
    }
    Err("the gateway child exited before listening".into())
}

/// Opens a client, subscribes it, then forwards every frame's arrival time to `arrivals`.
async fn client(
    addr: SocketAddr,
    token: String,
    entity: String,
    index: usize,
    arrivals: mpsc::UnboundedSender<(usize, Instant)>,
) -> Result<(), Fail> {
    let url = format!("ws://{addr}/production?access_token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::Text(
        json!({"action": "subscribe", "entityId": entity})
            .to_string()
            .into(),
    ))
    .await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("Subscribed") => {}
        other => return Err(format!("client {index}: expected Subscribed, got {other:?}").into()),
    }
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Text(_))
                && arrivals.send((index, Instant::now())).is_err()
            {
                break;
            }
        }
    });
    Ok(())
}

async fn http(addr: SocketAddr, request: String) -> Result<String, Fail> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

async fn put_events(addr: SocketAddr, entity: &str) -> Result<(), Fail> {
    let body = json!({"Entries": [{"Source": "bench", "DetailType": "Entity Updated",
        "Detail": json!({"entityId": entity, "message": "bench"}).to_string()}]})
    .to_string();
    let answer = http(
        addr,
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await?;
    if !answer.starts_with("HTTP/1.1 200") || !answer.contains("\"FailedEntryCount\":0") {
        return Err(format!("PutEvents refused: {answer}").into());
    }
    Ok(())
}

async fn connection_ids(addr: SocketAddr) -> Result<Vec<String>, Fail> {
    let answer = http(
        addr,
        format!("GET /_gateway/connections HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await?;
    let body = answer.split("\r\n\r\n").nth(1).ok_or("no body")?;
    let value: Value = serde_json::from_str(body)?;
    Ok(value["connections"]
        .as_array()
        .ok_or("no connections")?
        .iter()
        .filter_map(|c| c["connectionId"].as_str().map(str::to_string))
        .collect())
}

/// Waits for one frame per client; returns the time of the last and of the median.
async fn collect(
    n: usize,
    started: Instant,
    arrivals: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
) -> Result<(Duration, Duration), Fail> {
    let mut seen = vec![false; n];
    let mut times = Vec::with_capacity(n);
    while times.len() < n {
        let (index, at) = tokio::time::timeout(Duration::from_secs(300), arrivals.recv())
            .await?
            .ok_or("clients gone")?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(format!("client {index} got a second frame").into());
        }
        times.push(at - started);
    }
    times.sort();
    Ok((times[n - 1], times[n / 2]))
}

async fn measure(n: usize, store: &str, endpoint: Option<String>) -> Result<(), Fail> {
    let mut child = start_child(endpoint).await?;
    let addr = child.addr;
    let keys = Arc::new(TokenKeys::new(SECRET.as_bytes(), JwtSettings::default()));
    let entity = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();

    let setup = Instant::now();
    let now = chrono::Utc::now().timestamp();
    let results: Vec<Result<(), Fail>> = futures::stream::iter(0..n)
        .map(|index| {
            let request = TestTokenRequest {
                user_id: Some(format!("user-{index}")),
                ..TestTokenRequest::default()
            };
            let token = keys.mint(&request, now);
            let (entity, arrivals) = (entity.clone(), arrivals_tx.clone());
            async move { client(addr, token?, entity, index, arrivals).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, Fail>>()?;
    let setup = setup.elapsed();

    // The fan-out.
    let started = Instant::now();
    put_events(addr, &entity).await?;
    let (fanout_all, fanout_median) = collect(n, started, &mut arrivals).await?;
    if let Ok(Some((index, _))) =
        tokio::time::timeout(Duration::from_millis(500), arrivals.recv()).await
    {
        return Err(format!("client {index} got a second frame").into());
    }

    // The baseline: N sequential PostToConnection calls, each awaited.
    let ids = connection_ids(addr).await?;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let api = wspush_runtime::aws::management_client(&sdk, &format!("http://{addr}/production"));
    let started = Instant::now();
    for id in &ids {
        api.post_to_connection()
            .connection_id(id)
            .data(Blob::new(r#"{"type":"Pong"}"#))
            .send()
            .await?;
    }
    let (baseline_all, _) = collect(n, started, &mut arrivals).await?;

    println!(
        "{store:>8} n={n:>6}: fan-out {:>8.1} ms (median client {:>7.1} ms) | baseline sequential @connections {:>8.1} ms | ratio {:.2} | {:.0} pushes/s | setup {:.1} s",
        ms(fanout_all),
        ms(fanout_median),
        ms(baseline_all),
        ms(fanout_all) / ms(baseline_all),
        n as f64 / fanout_all.as_secs_f64(),
        setup.as_secs_f64(),
    );
    drop(child.process.stdin.take());
    if tokio::time::timeout(Duration::from_secs(60), child.process.wait())
        .await
        .is_err()
    {
        child.process.kill().await?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
