//! The gateway's HTTP APIs a measurement calls, as plain HTTP/1.1 over one TCP connection each:
//! EventBridge `PutEvents` to start a fan-out or fill a stream, and the local view of open
//! connections.

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
