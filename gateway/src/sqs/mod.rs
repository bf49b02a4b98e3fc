//! SQS on `POST /` (AWS JSON 1.0): `SendMessage` and `SendMessageBatch`, for the local push
//! queue and dead-letter queues.
//!
//! Why: the events function's planner enqueues push batches on the push queue with
//! `SendMessageBatch`, and every function moves a record that can never succeed to its
//! queue's dead-letter queue itself, with `SendMessage` and the reason as message attributes
//! (`wspush_runtime::dead_letters`). Hosted here, the runtime sends the same signed requests
//! to this gateway, which takes them as SQS takes them:
//! - the SigV4 signature for the `sqs` service in the gateway's region, by a key the gateway
//!   knows ([`SigningKeys`]); 403 otherwise, as on `@connections`;
//! - only the push queue, `http://{gateway}/{account}/push`, and the dead-letter queues,
//!   `http://{gateway}/{account}/{queue}-dlq` (matched on the URL's path, so a client may name
//!   the gateway by any host); any other queue URL, the event queues' too (only EventBridge's
//!   rules feed them), is 400 `QueueDoesNotExist` with `x-amzn-query-error:
//!   AWS.SimpleQueueService.NonExistentQueue;Sender`, as SQS answers it;
//! - each message as [`message`] checks it, and a batch as [`batch`] does;
//! - the answer: `MessageId`, `MD5OfMessageBody` and `MD5OfMessageAttributes` per message,
//!   computed as SQS documents them (SDKs may check them).
//!
//! Not emulated: every other SQS operation, `DelaySeconds`, FIFO and system attributes.

mod batch;
mod message;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::connections::sigv4::{SignedRequest, SigningKeys};
use crate::error::GatewayError;
use crate::queues::{Destination, MessageAttributes, Queues};
use crate::state::AppState;

pub use batch::MAX_ENTRIES;
pub use message::{md5_of_attributes, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES};

/// The `X-Amz-Target` prefix of every SQS operation.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";
/// SQS's signing name.
const SIGNING_NAME: &str = "sqs";
const JSON_10: &str = "application/x-amz-json-1.0";

/// The SQS API: the keys its signatures are checked with.
pub struct SqsApi {
    keys: SigningKeys,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageRequest {
    queue_url: Option<String>,
    message_body: Option<String>,
    #[serde(default)]
    message_attributes: MessageAttributes,
}

impl SqsApi {
    /// Checks signatures with the keys of the gateway's callers (`GatewayConfig::callers`).
    pub fn new(state: &AppState) -> Self {
        Self {
            keys: SigningKeys::for_service(SIGNING_NAME, state.config().callers.iter().cloned()),
        }
    }

    /// One SQS request: the signature, then the operation. A body past the server's read
    /// limit is over SQS's message limit too.
    pub async fn handle(
        self: Arc<Self>,
        state: AppState,
        parts: Parts,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Response, GatewayError> {
        let body = body.map_err(|_| message::too_long())?;
        let signed = SignedRequest::of(&parts, &body);
        self.keys
            .verify(&state.config().region, chrono::Utc::now(), &signed)?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match target {
            SEND_MESSAGE => send_message(state.queues(), &body),
            SEND_MESSAGE_BATCH => send_message_batch(state.queues(), &body),
            _ => Err(message::refused(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                format!(
                    "operation {target:?} is not emulated; the local gateway serves \
                     {SEND_MESSAGE} and {SEND_MESSAGE_BATCH} to its push queue and its \
                     dead-letter queues"
                ),
            )
            .into()),
        }
    }
}

/// `SendMessage`: one message, checked, then sent.
fn send_message(queues: &Queues, body: &[u8]) -> Result<Response, GatewayError> {
    let request: SendMessageRequest = parsed("SendMessage", body)?;
    let destination = destination(queues, request.queue_url)?;
    let message = message::checked(request.message_body, request.message_attributes)?;
    let answer = message::receipt(&message);
    destination.send(vec![message]);
    Ok(json_10(answer))
}

/// `SendMessageBatch`: the batch checked whole, then its good entries sent together.
fn send_message_batch(queues: &Queues, body: &[u8]) -> Result<Response, GatewayError> {
    let request: batch::SendMessageBatchRequest = parsed("SendMessageBatch", body)?;
    let destination = destination(queues, request.queue_url)?;
    let accepted = batch::check(request.entries)?;
    destination.send(accepted.messages);
    Ok(json_10(accepted.answer))
}

fn parsed<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body)
        .map_err(|e| GatewayError::Serialization(format!("{operation} request body: {e}")))
}

/// Where the request's `QueueUrl` leads; SQS's refusal when it names no queue that takes
/// messages sent to it.
fn destination(
    queues: &Queues,
    queue_url: Option<String>,
) -> Result<Destination<'_>, GatewayError> {
    let queue_url = queue_url.ok_or_else(|| message::missing("QueueUrl"))?;
    queue_url
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| queues.destination(uri.path()))
        .ok_or_else(|| {
            message::refused(
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.".into(),
            )
            .into()
        })
}

/// An answer in the JSON 1.0 protocol.
fn json_10(answer: serde_json::Value) -> Response {
    let mut response = answer.to_string().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_10));
    response
}
