//! What the benches share: the real `wspush-gateway` binary as a child process on 127.0.0.1
//! port 0, WebSocket clients subscribed to one entity in this process, the local HTTP calls,
//! and memory figures read from `/proc`.
//!
//! The gateway runs in its own process so that its memory can be measured apart from the
//! clients', and so that N clients and N server sockets do not share one descriptor limit.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use wspush_gateway::websocket::socket::THROTTLED;
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};
use wspush_runtime::config::JwtSettings;
use wspush_runtime::fanout::Tally;

pub const SECRET: &str = "bench-secret";
/// Clients connecting at once while a bench sets up.
pub const CONNECT_CONCURRENCY: usize = 100;

pub type Fail = Box<dyn std::error::Error + Send + Sync>;

/// `--name value` from the command line.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A comma-separated list of numbers from `--name`, or `default`.
pub fn numbers(args: &[String], name: &str, default: &str) -> Result<Vec<usize>, Fail> {
    Ok(arg(args, name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?)
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The `wspush-gateway` binary cargo built for this bench (or `WSPUSH_GATEWAY_BIN`).
pub fn gateway_binary() -> String {
    std::env::var("WSPUSH_GATEWAY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wspush-gateway").into())
}

/// The gateway child process.
pub struct Gateway {
    process: tokio::process::Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Tallies of the runtime's fan-outs, read from its log.
    pub tallies: mpsc::UnboundedReceiver<Tally>,
    /// The adaptive limit's summary line of each fan-out.
    pub limits: mpsc::UnboundedReceiver<String>,
}

/// Starts the gateway with `extra` options, embedded store unless `extra` says otherwise.
pub async fn start_gateway(extra: &[String]) -> Result<Gateway, Fail> {
    let mut process = tokio::process::Command::new(gateway_binary())
        .args(["--port", "0", "--jwt-secret", SECRET])
        .args(extra)
        // Only the fan-out's summary line; every other info line would cost CPU per frame.
        // BENCH_GATEWAY_LOG asks for more (with BENCH_VERBOSE, printed on stderr).
        .env(
            "RUST_LOG",
            std::env::var("BENCH_GATEWAY_LOG")
                .unwrap_or_else(|_| "warn,wspush_runtime::fanout=info".into()),
        )
        // Plain text: the tally is parsed from the log line.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = process.id().ok_or("the gateway exited at once")?;
    let stdout = process.stdout.take().ok_or("no stdout")?;
    let stderr = process.stderr.take().ok_or("no stderr")?;
    let (tally_tx, tallies) = mpsc::unbounded_channel();
    let (limit_tx, limits) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(tally) = parse_tally(&line) {
                let _ = tally_tx.send(tally);
            } else if let Some(at) = line.find("adaptive limit ") {
                let _ = limit_tx.send(line[at + "adaptive limit ".len()..].to_string());
            } else if ["WARN", "ERROR", "DEBUG"]
                .iter()
                .any(|level| line.contains(level))
            {
                // Keep the figures readable: warnings are counted by the benches themselves.
                if std::env::var_os("BENCH_VERBOSE").is_some() {
                    eprintln!("gateway: {line}");
                }
            }
        }
    });
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.strip_prefix("listening on ") {
            let addr = addr.trim().parse()?;
            // Drain the rest of the banner so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Gateway {
                process,
                addr,
                pid,
                tallies,
                limits,
            });
        }
    }
    Err("the gateway exited before listening".into())
}

/// `key=value` from the runtime's text log line "fan-out complete".
fn parse_tally(line: &str) -> Option<Tally> {
    if !line.contains("fan-out complete") {
        return None;
    }
    let field = |key: &str| -> Option<usize> {
        let at = line.find(&format!(" {key}="))? + key.len() + 2;
        line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    Some(Tally {
        recipients: field("recipients")?,
        delivered: field("delivered")?,
        gone: field("gone")?,
        failed: field("failed")?,
        throttled: field("throttled")?,
    })
}

impl Gateway {
    /// SIGTERM, then waits: the gateway closes every socket and runs `$disconnect`.
    pub async fn stop(mut self) -> Result<(), Fail> {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(60), self.process.wait())
            .await
            .is_err()
        {
            self.process.kill().await?;
        }
        Ok(())
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> Result<u64, Fail> {
        proc_status_kib(self.pid, "VmRSS")
    }
}

/// A field of `/proc/{pid}/status` in KiB (`VmRSS`, `VmHWM`).
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64, Fail> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed status line")?
        .parse()?)
}

/// A token for `user`, signed with the gateway's secret.
pub fn token(keys: &TokenKeys, user: &str) -> Result<String, Fail> {
    let request = TestTokenRequest {
        user_id: Some(user.to_string()),
        ..TestTokenRequest::default()
    };
    Ok(keys.mint(&request, chrono::Utc::now().timestamp())?)
}

pub fn keys() -> TokenKeys {
    TokenKeys::new(SECRET.as_bytes(), JwtSettings::default())
}

/// A frame's arrival at client `index`.
pub type Arrival = (usize, Instant);

/// Closes a client when sent.
pub type Closer = tokio::sync::oneshot::Sender<()>;

/// Opens a client, subscribes it to `entity` (when given), then reports each text frame's
/// arrival until `close` fires or the socket ends.
pub async fn client(
    addr: SocketAddr,
    token: String,
    entity: Option<String>,
    index: usize,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> Result<Closer, Fail> {
    let url = format!("ws://{addr}/production?access_token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    if let Some(entity) = entity {
        let subscribe = json!({"action": "subscribe", "entityId": entity}).to_string();
        loop {
            ws.send(Message::Text(subscribe.clone().into())).await?;
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains("Subscribed") => break,
                // The stage's route throttling: resubmit at a slower pace, as AWS advises.
                Some(Ok(Message::Text(t))) if t.contains(THROTTLED) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => {
                    return Err(
                        format!("client {index}: expected Subscribed, got {other:?}").into(),
                    )
                }
            }
        }
    }
    let (close, mut closed) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                message = ws.next() => match message {
                    Some(Ok(Message::Text(_))) => {
                        if arrivals.send((index, Instant::now())).is_err() {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
                _ = &mut closed => {
                    let _ = ws.close(None).await;
                    // Wait for the gateway's answering close frame.
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break;
                }
            }
        }
    });
    Ok(close)
}

/// `n` clients (users `user-{first + i}`), each subscribed to `entity` when given.
pub async fn clients(
    addr: SocketAddr,
    first: usize,
    n: usize,
    entity: Option<&str>,
    arrivals: &mpsc::UnboundedSender<Arrival>,
) -> Result<Vec<Closer>, Fail> {
    let keys = keys();
    let results: Vec<Result<Closer, Fail>> = futures::stream::iter(first..first + n)
        .map(|index| {
            let token = token(&keys, &format!("user-{index}"));
            let (entity, arrivals) = (entity.map(str::to_string), arrivals.clone());
            async move { client(addr, token?, entity, index, arrivals).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

pub async fn http(addr: SocketAddr, request: String) -> Result<String, Fail> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// One PutEvents of one "Entity Updated" event for `entity`.
pub async fn put_events(addr: SocketAddr, entity: &str) -> Result<(), Fail> {
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

/// The ids of the gateway's open connections.
pub async fn connection_ids(addr: SocketAddr) -> Result<Vec<String>, Fail> {
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

/// Waits for one frame per client (indexes `0..n`) and fails on a second, or on a frame for a
/// client outside `0..n`; returns the times
/// of the last and the median arrival after `started`.
pub async fn collect(
    n: usize,
    started: Instant,
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
) -> Result<(Duration, Duration), Fail> {
    let mut seen = vec![false; n];
    let mut times = Vec::with_capacity(n);
    while times.len() < n {
        let (index, at) = tokio::time::timeout(Duration::from_secs(300), arrivals.recv())
            .await
            .map_err(|_| format!("only {} of {n} clients got the frame", times.len()))?
            .ok_or("clients gone")?;
        if index >= n {
            return Err(format!("client {index} is not a recipient but got a frame").into());
        }
        if std::mem::replace(&mut seen[index], true) {
            return Err(format!("client {index} got a second frame").into());
        }
        times.push(at - started);
    }
    times.sort();
    Ok((times[n - 1], times[n / 2]))
}

/// Fails if any client receives another frame within `quiet`.
pub async fn no_more_frames(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    quiet: Duration,
) -> Result<(), Fail> {
    match tokio::time::timeout(quiet, arrivals.recv()).await {
        Ok(Some((index, _))) => Err(format!("client {index} got a second frame").into()),
        _ => Ok(()),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
