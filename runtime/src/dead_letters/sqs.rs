//! [`DeadLetters`] as SQS `SendMessage` ([`crate::sqs`]: one signed JSON 1.0 request), the body
//! `{"QueueUrl", "MessageBody", "MessageAttributes"}` with the SDK configuration's credentials,
//! as `aws-sdk-sqs` sends it. The local gateway checks the request as SQS would: the signature
//! for `sqs`, the target, the queue URL and the attributes.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::json;
use wspush_contract::{dead_letter_attributes, push_queue, timeouts};

use super::{DeadLetter, DeadLetterError, DeadLetters, Reason};
use crate::aws_http::{self, CredentialCache, HttpsClient};
use crate::sqs::{self, Call};

/// The operation, as the JSON protocol names it.
const TARGET: &str = "AmazonSQS.SendMessage";
/// The most characters of a reason sent: enough for any of the runtime's messages, small
/// beside the 1 MiB a message may carry with its attributes.
const MAX_REASON_CHARS: usize = 1_000;

/// Sends dead letters to the queues `DEAD_LETTER_QUEUES` names.
pub struct SqsDeadLetters {
    /// Source queue ARN to the URL of its dead-letter queue.
    routes: BTreeMap<String, String>,
    region: String,
    credentials: CredentialCache,
    /// Built on the first dead letter: most invocations never send one.
    client: OnceLock<HttpsClient>,
}

impl std::fmt::Debug for SqsDeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsDeadLetters")
            .field("routes", &self.routes)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SqsDeadLetters {
    /// Sends to `routes` (source queue ARN to dead-letter queue URL), signing for `region`
    /// with `credentials`.
    pub fn new(
        routes: BTreeMap<String, String>,
        region: String,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            routes,
            region,
            credentials: CredentialCache::new(credentials),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &HttpsClient {
        self.client.get_or_init(aws_http::https_client)
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), DeadLetterError> {
        if letter.body.is_empty() {
            return Err(DeadLetterError::EmptyBody);
        }
        let queue_url = self
            .routes
            .get(letter.source_queue_arn)
            .ok_or_else(|| DeadLetterError::NoQueueFor(letter.source_queue_arn.to_string()))?;
        let not_sent = |message: String| DeadLetterError::NotSent {
            queue_url: queue_url.clone(),
            message,
        };
        let identity = self
            .credentials
            .get("SendMessage")
            .await
            .map_err(not_sent)?;
        let call = Call {
            queue_url,
            target: TARGET,
            region: &self.region,
            body: send_message_body(queue_url, letter),
            limit: Duration::from_millis(timeouts::DEAD_LETTER_SEND_MS),
        };
        sqs::send(self.client(), &identity, call)
            .await
            .map(drop)
            .map_err(not_sent)
    }
}

/// The JSON 1.0 request body: the queue, the body unchanged, the reason as attributes.
fn send_message_body(queue_url: &str, letter: &DeadLetter<'_>) -> Vec<u8> {
    let Reason { code, message } = letter.reason;
    let attribute = |text: &str| json!({"DataType": "String", "StringValue": attribute_text(text)});
    let mut attributes = json!({
        dead_letter_attributes::ERROR_CODE: attribute(code),
        dead_letter_attributes::ERROR_MESSAGE: attribute(message),
    });
    if letter.push_batch {
        attributes[push_queue::KIND_ATTRIBUTE] = attribute(push_queue::PUSH_BATCH);
    }
    json!({
        "QueueUrl": queue_url,
        "MessageBody": letter.body,
        "MessageAttributes": attributes,
    })
    .to_string()
    .into_bytes()
}

/// A text SQS takes as an attribute value: only the characters it allows in a message (XML's:
/// tab, newline, carriage return, and from U+0020 on without surrogates, U+FFFE and U+FFFF),
/// any other replaced by U+FFFD; at most [`MAX_REASON_CHARS`] characters; never empty.
fn attribute_text(text: &str) -> String {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
    let clean: String = text
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_sent_unchanged_with_the_reason_as_attributes() {
        let reason = Reason {
            code: "InvalidEvent".into(),
            message: "invalid event: bell \u{7} and\ttab".into(),
        };
        let body = "{\"detail\": [1E2, 0.10000000000000000555]}";
        let letter = DeadLetter {
            source_queue_arn: "arn:aws:sqs:us-east-1:0:q",
            body,
            reason: &reason,
            push_batch: false,
        };
        let sent: serde_json::Value =
            serde_json::from_slice(&send_message_body("http://h/0/q-dlq", &letter)).expect("JSON");
        assert!(sent["MessageAttributes"].get("WSPUSH_KIND").is_none());
        let batch = DeadLetter {
            push_batch: true,
            ..letter
        };
        let kept: serde_json::Value =
            serde_json::from_slice(&send_message_body("http://h/0/push-dlq", &batch))
                .expect("JSON");
        assert_eq!(
            kept["MessageAttributes"]["WSPUSH_KIND"],
            json!({"DataType": "String", "StringValue": "push-batch"})
        );
        assert_eq!(sent["QueueUrl"], "http://h/0/q-dlq");
        assert_eq!(sent["MessageBody"], body);
        let attributes = &sent["MessageAttributes"];
        assert_eq!(
            attributes["ERROR_CODE"],
            json!({"DataType": "String", "StringValue": "InvalidEvent"})
        );
        assert_eq!(
            attributes["ERROR_MESSAGE"]["StringValue"],
            "invalid event: bell \u{FFFD} and\ttab"
        );
    }

    #[test]
    fn attribute_values_are_bounded_and_never_empty() {
        assert_eq!(attribute_text(""), "unknown");
        assert_eq!(attribute_text(&"x".repeat(5_000)).len(), MAX_REASON_CHARS);
        assert_eq!(attribute_text("\u{FFFF}\u{1F600}"), "\u{FFFD}\u{1F600}");
    }
}
