//! [`PushQueue`] as SQS `SendMessageBatch` ([`crate::sqs`]: signed JSON 1.0 requests, as
//! [`crate::dead_letters`] sends `SendMessage`).
//!
//! Batches go ten to a request, fewer when their bodies would pass SQS's 1 MiB per request,
//! several requests at once. An entry SQS reports failed through no fault of the sender, or a
//! request that fails as a whole, is sent again with jittered backoff; an entry refused as
//! the sender's fault is an error at once.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use futures::stream::{self, StreamExt, TryStreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use wspush_contract::{push_queue, timeouts};

use super::{PushBatch, PushQueue, PushQueueError};
use crate::aws_http::{self, CredentialCache, HttpsClient};
use crate::sqs::{self, Call};

const TARGET: &str = "AmazonSQS.SendMessageBatch";
/// Entries per request, SQS's most.
const ENTRIES_PER_REQUEST: usize = 10;
/// The most one request's messages may hold together, less room for the attributes and the
/// JSON around the bodies. SQS allows 1 MiB today; 256 KB was its limit for years, and a
/// request within it is accepted either way at the same price (SQS bills each 64 KB).
const REQUEST_BYTES: usize = 256 * 1024 - 16 * 1024;
/// Requests in flight at once.
const REQUESTS_IN_PARALLEL: usize = 8;
/// Attempts per request, the first included.
const ATTEMPTS: u32 = 5;

/// Sends push batches to the queue at one URL.
pub struct SqsPushQueue {
    queue_url: String,
    region: String,
    credentials: CredentialCache,
    client: OnceLock<HttpsClient>,
}

impl std::fmt::Debug for SqsPushQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsPushQueue")
            .field("queue_url", &self.queue_url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What `SendMessageBatch` answers: the entries it took, and those it did not.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchAnswer {
    #[serde(default)]
    failed: Vec<FailedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FailedEntry {
    id: String,
    #[serde(default)]
    sender_fault: bool,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl SqsPushQueue {
    /// Sends to `queue_url`, signing for `region` with `credentials`.
    pub fn new(
        queue_url: String,
        region: String,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            queue_url,
            region,
            credentials: CredentialCache::new(credentials),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &HttpsClient {
        self.client.get_or_init(aws_http::https_client)
    }

    fn not_sent(&self, message: String) -> PushQueueError {
        PushQueueError::NotSent {
            queue_url: self.queue_url.clone(),
            message,
        }
    }

    /// Sends one request's bodies until every one is taken, or fails.
    async fn send_request(&self, mut bodies: Vec<String>) -> Result<(), PushQueueError> {
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            match self.attempt(&bodies).await {
                Ok(failed) if failed.is_empty() => return Ok(()),
                Ok(failed) => {
                    last_error = refused_or_retry(&failed)?;
                    bodies = retry_bodies(bodies, &failed);
                }
                Err(message) => last_error = message,
            }
        }
        Err(self.not_sent(format!("after {ATTEMPTS} attempts: {last_error}")))
    }

    /// One `SendMessageBatch`: the entries that failed, or why the request did.
    async fn attempt(&self, bodies: &[String]) -> Result<Vec<FailedEntry>, String> {
        let identity = self.credentials.get("SendMessageBatch").await?;
        let call = Call {
            queue_url: &self.queue_url,
            target: TARGET,
            region: &self.region,
            body: batch_body(&self.queue_url, bodies),
            limit: Duration::from_millis(timeouts::PUSH_QUEUE_SEND_MS),
        };
        let answer = sqs::send(self.client(), &identity, call).await?;
        serde_json::from_slice::<BatchAnswer>(&answer)
            .map(|a| a.failed)
            .map_err(|e| format!("SendMessageBatch answered JSON it does not document: {e}"))
    }
}

#[async_trait]
impl PushQueue for SqsPushQueue {
    async fn send(&self, batches: &[PushBatch]) -> Result<(), PushQueueError> {
        let bodies = batches
            .iter()
            .map(|batch| serde_json::to_string(batch).unwrap_or_default())
            .collect::<Vec<_>>();
        if let Some(body) = bodies.iter().find(|b| b.len() > REQUEST_BYTES) {
            return Err(PushQueueError::TooLarge {
                bytes: body.len(),
                limit: REQUEST_BYTES,
            });
        }
        stream::iter(requests(bodies))
            .map(|bodies| self.send_request(bodies))
            .buffer_unordered(REQUESTS_IN_PARALLEL)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

/// The bodies grouped into requests: at most ten each, within [`REQUEST_BYTES`] together.
fn requests(bodies: Vec<String>) -> Vec<Vec<String>> {
    let mut requests: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for body in bodies {
        let fits = requests.last().is_some_and(|last| {
            last.len() < ENTRIES_PER_REQUEST && bytes + body.len() <= REQUEST_BYTES
        });
        if !fits {
            requests.push(Vec::new());
            bytes = 0;
        }
        bytes += body.len();
        if let Some(last) = requests.last_mut() {
            last.push(body);
        }
    }
    requests
}

/// The JSON 1.0 request: each body an entry (ids are the bodies' indexes), each marked as a
/// push batch.
fn batch_body(queue_url: &str, bodies: &[String]) -> Vec<u8> {
    let entries: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            json!({
                "Id": index.to_string(),
                "MessageBody": body,
                "MessageAttributes": {
                    push_queue::KIND_ATTRIBUTE: {"DataType": "String", "StringValue": push_queue::PUSH_BATCH},
                },
            })
        })
        .collect();
    json!({"QueueUrl": queue_url, "Entries": entries})
        .to_string()
        .into_bytes()
}

/// An error for the first entry refused as the sender's fault; else the failures in words,
/// to retry.
fn refused_or_retry(failed: &[FailedEntry]) -> Result<String, PushQueueError> {
    if let Some(refused) = failed.iter().find(|f| f.sender_fault) {
        return Err(PushQueueError::Refused {
            code: refused.code.clone(),
            message: refused.message.clone(),
        });
    }
    Ok(failed
        .iter()
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect::<Vec<_>>()
        .join("; "))
}

/// The bodies of the failed entries, to send again.
fn retry_bodies(bodies: Vec<String>, failed: &[FailedEntry]) -> Vec<String> {
    bodies
        .into_iter()
        .enumerate()
        .filter(|(index, _)| failed.iter().any(|f| f.id == index.to_string()))
        .map(|(_, body)| body)
        .collect()
}

/// A random wait below 50 ms × 2^attempt.
async fn backoff(attempt: u32) {
    let cap = 50u64 << attempt.min(6);
    let wait = rand::rng().random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hold_ten_entries_within_a_mebibyte() {
        let small = vec!["x".to_string(); 25];
        let sizes: Vec<usize> = requests(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large = vec!["y".repeat(100 * 1024); 5];
        let sizes: Vec<usize> = requests(large).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn every_entry_is_marked_as_a_push_batch() {
        let body: Value = serde_json::from_slice(&batch_body(
            "http://127.0.0.1:1/000000000000/push",
            &["{\"a\":1}".into(), "{}".into()],
        ))
        .expect("JSON");
        assert_eq!(body["QueueUrl"], "http://127.0.0.1:1/000000000000/push");
        assert_eq!(body["Entries"][1]["Id"], "1");
        assert_eq!(body["Entries"][0]["MessageBody"], "{\"a\":1}");
        assert_eq!(
            body["Entries"][0]["MessageAttributes"]["WSPUSH_KIND"]["StringValue"],
            "push-batch"
        );
    }

    #[test]
    fn only_failed_entries_are_sent_again_and_sender_faults_are_errors() {
        let failed = vec![FailedEntry {
            id: "1".into(),
            sender_fault: false,
            code: "InternalError".into(),
            message: "try again".into(),
        }];
        assert_eq!(
            retry_bodies(vec!["a".into(), "b".into(), "c".into()], &failed),
            ["b"]
        );
        assert!(refused_or_retry(&failed).is_ok());
        let refused = vec![FailedEntry {
            id: "0".into(),
            sender_fault: true,
            code: "InvalidMessageContents".into(),
            message: "bad".into(),
        }];
        assert!(matches!(
            refused_or_retry(&refused),
            Err(PushQueueError::Refused { .. })
        ));
    }
}
