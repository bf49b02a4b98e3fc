//! SQS `SendMessageBatch`: up to ten messages in one request, as the planner sends push
//! batches. The batch as a whole is refused as SQS refuses it (no entries, more than ten, an
//! id missing, malformed or repeated, more than 1 MiB in all); then each entry is checked as
//! `SendMessage` checks its message ([`super::message::checked`]), and a bad one fails alone:
//! it is listed under `Failed` with SQS's code, the good ones under `Successful` with their
//! message id and digests, and only those are sent.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Value};

use super::message::{self, missing, refused, Refusal, MAX_MESSAGE_BYTES};
use crate::queues::{Message, MessageAttributes};

/// The most entries one request may carry.
pub const MAX_ENTRIES: usize = 10;
/// The longest entry id.
const MAX_ID_CHARS: usize = 80;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchRequest {
    pub queue_url: Option<String>,
    #[serde(default)]
    pub entries: Vec<Entry>,
}

/// One entry: the caller's id for it in the answer, and its message.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    id: Option<String>,
    message_body: Option<String>,
    #[serde(default)]
    message_attributes: MessageAttributes,
}

/// A batch SQS takes: the messages of its good entries, and the answer.
pub struct Accepted {
    pub messages: Vec<Message>,
    /// `{"Successful": [...], "Failed": [...]}`.
    pub answer: Value,
}

/// Checks the batch as a whole (refused whole), then each entry (a bad one fails alone).
pub fn check(entries: Vec<Entry>) -> Result<Accepted, Refusal> {
    check_batch(&entries)?;
    let mut messages = Vec::new();
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in entries {
        let id = entry.id.unwrap_or_default();
        match message::checked(entry.message_body, entry.message_attributes) {
            Ok(message) => {
                let mut receipt = message::receipt(&message);
                receipt["Id"] = json!(id);
                successful.push(receipt);
                messages.push(message);
            }
            Err(refusal) => failed.push(json!({
                "Id": id,
                "SenderFault": true,
                "Code": refusal.shape,
                "Message": refusal.message,
            })),
        }
    }
    Ok(Accepted {
        messages,
        answer: json!({"Successful": successful, "Failed": failed}),
    })
}

/// One to ten entries, each with a distinct valid id, within 1 MiB together.
fn check_batch(entries: &[Entry]) -> Result<(), Refusal> {
    if entries.is_empty() {
        return Err(refused(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one SendMessageBatchRequestEntry in the request.".into(),
        ));
    }
    if entries.len() > MAX_ENTRIES {
        return Err(refused(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_ENTRIES}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    check_ids(entries)?;
    let total: usize = entries
        .iter()
        .map(|e| {
            message::size(
                e.message_body.as_deref().unwrap_or(""),
                &e.message_attributes,
            )
        })
        .sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(refused(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent \
                 {total} bytes."
            ),
        ));
    }
    Ok(())
}

/// Every entry has an id of up to 80 letters, digits, `-` and `_`, and no two the same.
fn check_ids(entries: &[Entry]) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    for (n, entry) in entries.iter().enumerate() {
        let id = entry
            .id
            .as_deref()
            .ok_or_else(|| missing(&format!("SendMessageBatchRequestEntry.{}.Id", n + 1)))?;
        let valid = !id.is_empty()
            && id.chars().count() <= MAX_ID_CHARS
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(refused(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                format!(
                    "A batch entry id can only contain alphanumeric characters, hyphens and \
                     underscores. It can be at most {MAX_ID_CHARS} letters long."
                ),
            ));
        }
        if !seen.insert(id) {
            return Err(refused(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(())
}
