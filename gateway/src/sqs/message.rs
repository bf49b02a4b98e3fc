//! What SQS takes as one message, `SendMessage`'s or one `SendMessageBatch` entry's: the
//! checks it makes, the refusals it answers, and the digests it sends back.

use md5::Digest;
use serde_json::json;

use crate::error::GatewayError;
use crate::queues::{Message, MessageAttribute, MessageAttributes};

/// The largest message, body and attributes together: 1 MiB (also the most a whole
/// `SendMessageBatch` may carry).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The most attributes one message may carry.
pub const MAX_ATTRIBUTES: usize = 10;
/// The longest attribute name.
const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;

/// Why SQS refuses a request or one entry of a batch: the error shape (`__type`, or a failed
/// entry's `Code`), the query-protocol code SQS sends beside it, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub shape: &'static str,
    pub query_code: &'static str,
    pub message: String,
}

impl From<Refusal> for GatewayError {
    fn from(refusal: Refusal) -> Self {
        GatewayError::Sqs {
            shape: refusal.shape,
            query_code: refusal.query_code,
            message: refusal.message,
        }
    }
}

/// The message `body` and `attributes` make, when SQS would take it: a non-empty body,
/// only the characters SQS allows, valid attributes, and within 1 MiB.
pub fn checked(body: Option<String>, attributes: MessageAttributes) -> Result<Message, Refusal> {
    let body = body
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("MessageBody"))?;
    check_text("the message body", &body)?;
    check_attributes(&attributes)?;
    if size(&body, &attributes) > MAX_MESSAGE_BYTES {
        return Err(too_long());
    }
    Ok(Message::sent(body, attributes))
}

/// The bytes a message counts toward SQS's limits: its body, and each attribute's name, type
/// and value.
pub fn size(body: &str, attributes: &MessageAttributes) -> usize {
    body.len() + attributes_size(attributes)
}

/// What SQS answers for a message it took: `MessageId`, `MD5OfMessageBody` and, with
/// attributes, `MD5OfMessageAttributes`.
pub fn receipt(message: &Message) -> serde_json::Value {
    let mut answer = json!({
        "MessageId": message.id(),
        "MD5OfMessageBody": format!("{:x}", md5::Md5::digest(message.body().as_bytes())),
    });
    if !message.attributes().is_empty() {
        answer["MD5OfMessageAttributes"] = json!(md5_of_attributes(message.attributes()));
    }
    answer
}

/// At most [`MAX_ATTRIBUTES`], each with a valid name, a known type and a value of that type.
fn check_attributes(attributes: &MessageAttributes) -> Result<(), Refusal> {
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
fn check_attribute_name(name: &str) -> Result<(), Refusal> {
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
fn check_attribute_value(name: &str, attribute: &MessageAttribute) -> Result<(), Refusal> {
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
fn check_text(what: &str, text: &str) -> Result<(), Refusal> {
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

pub fn too_long() -> Refusal {
    invalid(format!(
        "One or more parameters are invalid. Reason: Message must be shorter than \
         {MAX_MESSAGE_BYTES} bytes."
    ))
}

pub fn missing(parameter: &str) -> Refusal {
    refused(
        "MissingParameter",
        "MissingParameter",
        format!("The request must contain the parameter {parameter}."),
    )
}

fn invalid(message: String) -> Refusal {
    refused("InvalidParameterValue", "InvalidParameterValue", message)
}

pub fn refused(shape: &'static str, query_code: &'static str, message: String) -> Refusal {
    Refusal {
        shape,
        query_code,
        message,
    }
}
