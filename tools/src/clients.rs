//! WebSocket clients in the measuring process: each connects with a token signed with the
//! gateway's secret, subscribes to one entity, and reports every text frame's arrival, so a
//! measurement can check that each recipient got exactly one copy and time the last one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use wspush_contract::defaults;
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};

use crate::gateway::SECRET;
use crate::Fail;

/// Clients connecting at once while a measurement sets up.
pub const CONNECT_CONCURRENCY: usize = 100;

/// A frame's arrival at client `index`.
pub type Arrival = (usize, Instant);

/// Closes a client when sent.
pub type Closer = tokio::sync::oneshot::Sender<()>;

/// The keys of the gateway's secret ([`SECRET`]).
pub fn keys() -> TokenKeys {
    TokenKeys::new(
        SECRET.as_bytes(),
        wspush_runtime::auth::ClaimRules::default(),
    )
}

/// A token for `user`, signed with the gateway's secret.
pub fn token(keys: &TokenKeys, user: &str) -> Result<String, Fail> {
    let request = TestTokenRequest {
        user_id: Some(user.to_string()),
        ..TestTokenRequest::default()
    };
    Ok(keys.mint(&request, chrono::Utc::now().timestamp())?)
}

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
        subscribe(&mut ws, index, &entity).await?;
    }
    let (close, closed) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(report_frames(ws, index, arrivals, closed));
    Ok(close)
}

/// Subscribes `ws` to `entity`; a subscribe the stage's route throttling refused is resubmitted
/// at a slower pace, as AWS advises throttled clients to.
async fn subscribe(ws: &mut Socket, index: usize, entity: &str) -> Result<(), Fail> {
    let subscribe = json!({"action": "subscribe", "entityId": entity}).to_string();
    loop {
        ws.send(Message::Text(subscribe.clone().into())).await?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("Subscribed") => return Ok(()),
            Some(Ok(Message::Text(t))) if t.contains(defaults::THROTTLED_MESSAGE) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => {
                return Err(format!("client {index}: expected Subscribed, got {other:?}").into())
            }
        }
    }
}

/// A client's socket, for a measurement that reads the frames themselves.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket as `user`, subscribed to nothing: the caller sends and reads its frames.
pub async fn connect(addr: SocketAddr, user: &str) -> Result<Socket, Fail> {
    let token = token(&keys(), user)?;
    let url = format!("ws://{addr}/production?access_token={token}");
    Ok(tokio_tungstenite::connect_async(url).await?.0)
}

/// Reports each text frame on `ws` until `closed` fires (then closes the socket cleanly) or the
/// socket ends.
async fn report_frames(
    mut ws: Socket,
    index: usize,
    arrivals: mpsc::UnboundedSender<Arrival>,
    mut closed: tokio::sync::oneshot::Receiver<()>,
) {
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

/// Waits for one frame per client (indexes `0..n`) and fails on a second, or on a frame for a
/// client outside `0..n`; returns the times of the last and the median arrival after `started`.
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
