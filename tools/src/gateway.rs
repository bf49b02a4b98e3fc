//! The real `wspush-gateway` binary as a child process on 127.0.0.1 port 0, with the runtime's
//! fan-out tallies and adaptive-limit summaries read from its log.
//!
//! The gateway runs in its own process so that its memory can be measured apart from the
//! clients', and so that N clients and N server sockets do not share one descriptor limit.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use wspush_runtime::fanout::Tally;

use crate::{procfs, Fail};

/// The JWT secret every measured gateway runs with, so [`crate::clients`] can mint tokens.
pub const SECRET: &str = "bench-secret";

/// The options that put a gateway on DynamoDB at `endpoint`, in a fresh table of its own;
/// none (the embedded store) without an endpoint.
pub fn store_options(endpoint: Option<&str>) -> Vec<String> {
    match endpoint {
        Some(endpoint) => vec![
            "--dynamodb-endpoint".to_string(),
            endpoint.to_string(),
            "--table".to_string(),
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ],
        None => Vec::new(),
    }
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

/// Starts the gateway `binary` with `extra` options, embedded store unless `extra` says
/// otherwise.
pub async fn start_gateway(binary: &str, extra: &[String]) -> Result<Gateway, Fail> {
    let mut process = tokio::process::Command::new(binary)
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
        .spawn()
        .map_err(|e| format!("starting the gateway {binary}: {e}"))?;
    let pid = process.id().ok_or("the gateway exited at once")?;
    let stderr = process.stderr.take().ok_or("no stderr")?;
    let (tally_tx, tallies) = mpsc::unbounded_channel();
    let (limit_tx, limits) = mpsc::unbounded_channel();
    tokio::spawn(read_log(stderr, tally_tx, limit_tx));
    let stdout = process.stdout.take().ok_or("no stdout")?;
    let addr = listening_address(stdout).await?;
    Ok(Gateway {
        process,
        addr,
        pid,
        tallies,
        limits,
    })
}

/// Reads the address from the gateway's start-up banner, then drains the rest of it so the
/// child never blocks on a full pipe.
async fn listening_address(stdout: tokio::process::ChildStdout) -> Result<SocketAddr, Fail> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.strip_prefix("listening on ") {
            let addr = addr.trim().parse()?;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(addr);
        }
    }
    Err("the gateway exited before listening".into())
}

/// Sorts the gateway's log lines: tallies and adaptive-limit summaries to their channels,
/// warnings to stderr only with `BENCH_VERBOSE` (the benches count failures themselves).
async fn read_log(
    stderr: tokio::process::ChildStderr,
    tallies: mpsc::UnboundedSender<Tally>,
    limits: mpsc::UnboundedSender<String>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tally) = parse_tally(&line) {
            let _ = tallies.send(tally);
        } else if let Some(at) = line.find("adaptive limit ") {
            let _ = limits.send(line[at + "adaptive limit ".len()..].to_string());
        } else if ["WARN", "ERROR", "DEBUG"]
            .iter()
            .any(|level| line.contains(level))
            && std::env::var_os("BENCH_VERBOSE").is_some()
        {
            eprintln!("gateway: {line}");
        }
    }
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
        // Absent from a gateway that predates token expiry (a baseline build).
        expired: field("expired").unwrap_or(0),
        throttled: field("throttled")?,
        // The direct fan-out's line: nothing handed to the pushers.
        queued: 0,
        batches: 0,
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
        Ok(procfs::status_kib(self.pid, "VmRSS")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_is_read_from_the_fan_out_log_line() {
        let line = "2026-01-01T00:00:00Z  INFO wspush_runtime::fanout: fan-out complete \
                    recipients=10 delivered=8 gone=1 failed=0 throttled=3";
        let tally = parse_tally(line);
        assert_eq!(
            tally.map(|t| (t.recipients, t.delivered, t.gone, t.failed, t.throttled)),
            Some((10, 8, 1, 0, 3))
        );
        assert!(parse_tally("fan-out started recipients=10").is_none());
    }
}
