//! SQS `SendMessage` on `POST /` (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.SendMessage`), for
//! the local dead-letter queues.
//!
//! Why: the events function moves an event that can never succeed to its queue's dead-letter
//! queue itself, with SQS `SendMessage` and the reason as message attributes
//! (`wspush_runtime::dead_letters`). Hosted here, the runtime sends the same signed request to
//! this gateway, which takes it as SQS takes it:
//! - the SigV4 signature for the `sqs` service in the gateway's region, by a key the gateway
//!   knows ([`SigningKeys`]); 403 otherwise, as on `@connections`;
//! - only the gateway's own dead-letter queues, `http://{gateway}/{account}/{queue}-dlq`
//!   (matched on the URL's path, so a client may name the gateway by any host); any other
//!   queue URL is 400 `QueueDoesNotExist` with `x-amzn-query-error:
//!   AWS.SimpleQueueService.NonExistentQueue;Sender`, as SQS answers it;
//! - `QueueUrl` and a non-empty `MessageBody` (`MissingParameter`); only the characters SQS
//!   allows in a body or a string attribute (`InvalidMessageContents`); at most 10 attributes
//!   (`InvalidParameterValue`), each named, typed and valued as SQS requires; the body and the
//!   attributes within SQS's 1 MiB (`InvalidParameterValue`);
//! - the answer: `MessageId`, `MD5OfMessageBody` and `MD5OfMessageAttributes`, computed as SQS
//!   documents them (SDKs may check them).
//!
//! Not emulated: every other SQS operation, sending to the main queues (only EventBridge's
//! rules feed them), `DelaySeconds`, FIFO and system attributes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use md5::Digest;
use serde::Deserialize;
use serde_json::json;

use crate::connections::sigv4::{SignedRequest, SigningKeys};
use crate::error::GatewayError;
use crate::queues::{LocalQueue, Message, MessageAttribute, MessageAttributes, Queues};
use crate::state::AppState;

/// The `X-Amz-Target` prefix of every SQS operation.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
/// SQS's signing name.
const SIGNING_NAME: &str = "sqs";
const JSON_10: &str = "application/x-amz-json-1.0";
/// The largest message, body and attributes together: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The most attributes one message may carry.
pub const MAX_ATTRIBUTES: usize = 10;
/// The longest attribute name.
const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;

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
        let body = body.map_err(|_| too_long())?;
        let signed = SignedRequest::of(&parts, &body);
        self.keys
            .verify(&state.config().region, chrono::Utc::now(), &signed)?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if target != SEND_MESSAGE {
            return Err(refused(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                format!(
                    "operation {target:?} is not emulated; the local gateway serves \
                     {SEND_MESSAGE} to its dead-letter queues"
                ),
            ));
        }
        let request: SendMessageRequest = serde_json::from_slice(&body)
            .map_err(|e| GatewayError::Serialization(format!("SendMessage request body: {e}")))?;
        let (queue, message) = check(state.queues(), request)?;
        Ok(accepted(&queue, message))
    }
}

/// Puts `message` on `queue`'s dead-letter queue and answers as SQS does.
fn accepted(queue: &LocalQueue, message: Message) -> Response {
    let answer = send_message_answer(&message);
    queue.send_dead_letter(message);
    let mut response = answer.to_string().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_10));
    response
}

/// `MessageId`, `MD5OfMessageBody` and, with attributes, `MD5OfMessageAttributes`.
fn send_message_answer(message: &Message) -> serde_json::Value {
    let mut answer = json!({
        "MessageId": message.id(),
        "MD5OfMessageBody": format!("{:x}", md5::Md5::digest(message.body().as_bytes())),
    });
    if !message.attributes().is_empty() {
        answer["MD5OfMessageAttributes"] = json!(md5_of_attributes(message.attributes()));
    }
    answer
}

/// The queue a valid request names, and the message it sends; or SQS's refusal.
fn check(
    queues: &Queues,
    request: SendMessageRequest,
) -> Result<(Arc<LocalQueue>, Message), GatewayError> {
    let queue_url = request.queue_url.ok_or_else(|| missing("QueueUrl"))?;
    let queue = queue_url
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| queues.by_dead_letter_path(uri.path()).cloned())
        .ok_or_else(|| {
            refused(
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.".into(),
            )
        })?;
    let body = request
        .message_body
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("MessageBody"))?;
    check_text("the message body", &body)?;
    check_attributes(&request.message_attributes)?;
    let size = body.len() + attributes_size(&request.message_attributes);
    if size > MAX_MESSAGE_BYTES {
        return Err(too_long());
    }
    Ok((queue, Message::sent(body, request.message_attributes)))
}

/// At most [`MAX_ATTRIBUTES`], each with a valid name, a known type and a value of that type.
fn check_attributes(attributes: &MessageAttributes) -> Result<(), GatewayError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, attribute) in attributes {
        check_attribute_name(name)?;
        check_attribute_value(name, attribute)?;
    }
    Ok(())
}

/// Letters, digits, `_`, `-` and `.`; not starting with `AWS.` or `Amazon.`; no leading,
/// trailing or doubled `.`; at most 256 characters.
fn check_attribute_name(name: &str) -> Result<(), GatewayError> {
    let lower = name.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_ATTRIBUTE_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..");
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "Message attribute name '{name}' is invalid: use up to {MAX_ATTRIBUTE_NAME_CHARS} \
             letters, digits, '_', '-' and '.', not starting with 'AWS.' or 'Amazon.'."
        )))
    }
}

/// `String` and `Number` (with an optional `.label`) carry a `StringValue`, `Binary` a
/// `BinaryValue`; neither may be empty.
fn check_attribute_value(name: &str, attribute: &MessageAttribute) -> Result<(), GatewayError> {
    let base = attribute.data_type.split('.').next().unwrap_or("");
    let value = match base {
        "String" | "Number" => attribute.string_value.as_deref(),
        "Binary" => attribute.binary_value.as_deref(),
        _ => {
            return Err(invalid(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only \
                 the following supported type prefixes: Binary, Number, String."
            )))
        }
    };
    match value.filter(|v| !v.is_empty()) {
        None => Err(invalid(format!(
            "The message attribute '{name}' must contain non-empty message attribute value \
             for message attribute type '{base}'."
        ))),
        Some(text) if base != "Binary" => check_text(&format!("attribute '{name}'"), text),
        Some(encoded) => base64_decoded(encoded)
            .map(|_| ())
            .ok_or_else(|| invalid(format!("The message attribute '{name}' is not Base64."))),
    }
}

/// Only the characters SQS allows in a message (XML's): tab, newline, carriage return, and
/// from U+0020 on, without U+FFFE and U+FFFF.
fn check_text(what: &str, text: &str) -> Result<(), GatewayError> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
    match text.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(refused(
            "InvalidMessageContents",
            "InvalidMessageContents",
            format!(
                "Invalid binary character '#x{:X}' was found in {what}, the set of allowed \
                 characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to \
                 #x10FFFF",
                u32::from(c)
            ),
        )),
    }
}

fn base64_decoded(encoded: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// The bytes the attributes count toward the message size: each name, type and value.
fn attributes_size(attributes: &MessageAttributes) -> usize {
    attributes
        .iter()
        .map(|(name, a)| {
            let value = match (&a.string_value, &a.binary_value) {
                (Some(text), _) => text.len(),
                (None, Some(encoded)) => base64_decoded(encoded).map_or(0, |b| b.len()),
                (None, None) => 0,
            };
            name.len() + a.data_type.len() + value
        })
        .sum()
}

/// SQS's digest of the attributes: for each, in name order, the name, the data type, a
/// transport byte (1 for a string value, 2 for binary) and the value; the name, the type and
/// the value each preceded by its length in four big-endian bytes.
pub fn md5_of_attributes(attributes: &MessageAttributes) -> String {
    fn put(bytes: &mut Vec<u8>, field: &[u8]) {
        bytes.extend((field.len() as u32).to_be_bytes());
        bytes.extend(field);
    }
    let mut bytes = Vec::new();
    for (name, attribute) in attributes {
        put(&mut bytes, name.as_bytes());
        put(&mut bytes, attribute.data_type.as_bytes());
        match (&attribute.string_value, &attribute.binary_value) {
            (Some(text), _) => {
                bytes.push(1);
                put(&mut bytes, text.as_bytes());
            }
            (None, Some(encoded)) => {
                bytes.push(2);
                put(&mut bytes, &base64_decoded(encoded).unwrap_or_default());
            }
            (None, None) => {}
        }
    }
    format!("{:x}", md5::Md5::digest(&bytes))
}

fn too_long() -> GatewayError {
    invalid(format!(
        "One or more parameters are invalid. Reason: Message must be shorter than \
         {MAX_MESSAGE_BYTES} bytes."
    ))
}

fn missing(parameter: &str) -> GatewayError {
    refused(
        "MissingParameter",
        "MissingParameter",
        format!("The request must contain the parameter {parameter}."),
    )
}

fn invalid(message: String) -> GatewayError {
    refused("InvalidParameterValue", "InvalidParameterValue", message)
}

fn refused(shape: &'static str, query_code: &'static str, message: String) -> GatewayError {
    GatewayError::Sqs {
        shape,
        query_code,
        message,
    }
}
