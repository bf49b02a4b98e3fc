//! The gateway's HTTP APIs a measurement calls, as plain HTTP/1.1 over one TCP connection each:
//! EventBridge `PutEvents` to start a fan-out or fill a stream, the local view of open
//! connections, functions and queues, and the virtual connections (ids with no socket whose
//! pushes the gateway counts).

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Fail;

/// Sends `request` and reads the whole answer (the request asks the server to close).
pub async fn http(addr: SocketAddr, request: String) -> Result<String, Fail> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// Entries one PutEvents may carry (EventBridge's limit, which the gateway enforces).
pub const MAX_ENTRIES: usize = 10;

/// One PutEvents of one "Entity Updated" event for `entity`.
pub async fn put_events(addr: SocketAddr, entity: &str) -> Result<(), Fail> {
    put_entity_events(addr, entity, 1).await
}

/// One PutEvents of `count` (1 to [`MAX_ENTRIES`]) "Entity Updated" events for `entity`.
pub async fn put_entity_events(addr: SocketAddr, entity: &str, count: usize) -> Result<(), Fail> {
    let entry = json!({"Source": "bench", "DetailType": "Entity Updated",
        "Detail": json!({"entityId": entity, "message": "bench"}).to_string()});
    let body = json!({ "Entries": vec![entry; count] }).to_string();
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

/// A local-only `/_gateway/` call: `method` on `path` with a JSON `body`; the answer's status
/// and JSON body (`Null` when empty).
pub async fn gateway_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Fail> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let answer = http(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: no status in {head:?}"))?;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).map_err(|e| format!("{method} {path}: {e}: {body}"))?
    };
    Ok((status, value))
}

/// [`gateway_json`], failing unless the answer is 200.
async fn gateway_ok(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Fail> {
    match gateway_json(addr, method, path, body).await? {
        (200, value) => Ok(value),
        (status, value) => Err(format!("{method} {path}: {status} {value}").into()),
    }
}

/// `GET /_gateway/functions`: each function's invocations, errors, throttles, concurrency.
pub async fn functions(addr: SocketAddr) -> Result<Value, Fail> {
    gateway_ok(addr, "GET", "/_gateway/functions", None).await
}

/// `GET /_gateway/queues`: each queue's depth and counts.
pub async fn queues(addr: SocketAddr) -> Result<Value, Fail> {
    gateway_ok(addr, "GET", "/_gateway/queues", None).await
}

const VIRTUAL_CONNECTIONS: &str = "/_gateway/virtual-connections";

/// What the gateway's virtual connections received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualSummary {
    /// Ids registered (and not removed).
    pub registered: u64,
    /// Ids that received at least one push.
    pub delivered: u64,
    /// Ids that received none.
    pub missing: u64,
    /// Pushes beyond each id's first.
    pub repeated: u64,
    /// Pushes, over all ids.
    pub received: u64,
}

impl VirtualSummary {
    /// The summary in the gateway's answer.
    fn from_answer(answer: &Value) -> Result<Self, Fail> {
        let field = |name: &str| {
            answer[name]
                .as_u64()
                .ok_or_else(|| format!("no {name:?} in the virtual connections' summary {answer}"))
        };
        Ok(Self {
            registered: field("registered")?,
            delivered: field("delivered")?,
            missing: field("missing")?,
            repeated: field("repeated")?,
            received: field("received")?,
        })
    }
}

/// Registers `count` virtual connections subscribed to `entity`; returns their first and last
/// id.
pub async fn register_virtual(
    addr: SocketAddr,
    entity: &str,
    count: usize,
) -> Result<(String, String), Fail> {
    let body = json!({"entityId": entity, "count": count});
    let answer = gateway_ok(addr, "POST", VIRTUAL_CONNECTIONS, Some(&body)).await?;
    let id = |i: usize| answer["ids"][i].as_str().map(str::to_string);
    match (answer["registered"].as_u64(), id(0), id(1)) {
        (Some(n), Some(first), Some(last)) if n == count as u64 => Ok((first, last)),
        _ => Err(format!("registering {count} virtual connections: {answer}").into()),
    }
}

/// What the virtual connections received so far.
pub async fn virtual_summary(addr: SocketAddr) -> Result<VirtualSummary, Fail> {
    VirtualSummary::from_answer(&gateway_ok(addr, "GET", VIRTUAL_CONNECTIONS, None).await?)
}

/// Zeroes what the virtual connections received.
pub async fn reset_virtual(addr: SocketAddr) -> Result<VirtualSummary, Fail> {
    let path = format!("{VIRTUAL_CONNECTIONS}/reset");
    VirtualSummary::from_answer(&gateway_ok(addr, "POST", &path, None).await?)
}

/// Removes every virtual connection and its subscription; returns how many.
pub async fn remove_virtual(addr: SocketAddr) -> Result<u64, Fail> {
    let answer = gateway_ok(addr, "DELETE", VIRTUAL_CONNECTIONS, None).await?;
    answer["removed"]
        .as_u64()
        .ok_or_else(|| format!("DELETE {VIRTUAL_CONNECTIONS}: {answer}").into())
}
