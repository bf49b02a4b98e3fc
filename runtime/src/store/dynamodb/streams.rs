//! Streams on DynamoDB: a head item, message items and event markers under the stream's key.
//!
//! | item    | pk                                       | sk                  | attributes |
//! |---------|------------------------------------------|---------------------|------------|
//! | head    | `stream#entity#{id}` / `stream#user#{id}` | `head#`            | streamId, serial, oldestSerial, expiresAt, ttl |
//! | message | same                                     | `message#{serial:020}` | streamId, frame, eventId, expiresAt, ttl |
//! | event   | same                                     | `event#{eventId}`   | streamId, serial, ttl |
//!
//! None has an index key, so streams never show in GSI1. An append reads the head and the
//! event's marker (consistent reads), then writes head, message and marker, and deletes the
//! message that drops out of history, in one transaction conditioned on the head it read: two
//! appends to one stream never get one serial, and a lost race reads again and retries. So an
//! event costs two reads and one transaction of three or four items, however many subscribe.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use rand::Rng;
use wspush_contract::table::{
    PARTITION_KEY, SORT_KEY, STREAM_EVENT_ID, STREAM_EVENT_PREFIX, STREAM_EXPIRES_AT, STREAM_FRAME,
    STREAM_GENERATION, STREAM_HEAD_SORT_KEY, STREAM_MESSAGE_PREFIX, STREAM_OLDEST, STREAM_SERIAL,
    TTL_ATTRIBUTE,
};

use super::{n, plain_error, request_error, s, DynamoStore, Item};
use crate::store::streams::advance;
use crate::store::{
    Appended, NewMessage, Retention, StoreError, StoredMessage, Stream, StreamHead,
};

/// Appends to one stream that lose the race for its head this many times in a row give up
/// (the event is retried by its queue).
const APPEND_ATTEMPTS: u32 = 30;

fn message_key(serial: u64) -> String {
    format!("{STREAM_MESSAGE_PREFIX}{serial:020}")
}

fn item_key(pk: &str, sk: String) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_string(), s(pk)),
        (SORT_KEY.to_string(), s(&sk)),
    ])
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A number attribute of `item`.
fn read_number<T: std::str::FromStr>(
    item: &Item,
    field: &'static str,
    operation: &'static str,
) -> Result<T, StoreError> {
    match item.get(field) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
    .ok_or(StoreError::Corrupt { operation, field })
}

fn read_text(
    item: &Item,
    field: &'static str,
    operation: &'static str,
) -> Result<String, StoreError> {
    match item.get(field) {
        Some(AttributeValue::S(text)) => Ok(text.clone()),
        _ => Err(StoreError::Corrupt { operation, field }),
    }
}

fn head_of(item: &Item) -> Result<StreamHead, StoreError> {
    const OP: &str = "GetItem(stream head)";
    Ok(StreamHead {
        stream_id: read_text(item, STREAM_GENERATION, OP)?,
        serial: read_number(item, STREAM_SERIAL, OP)?,
        oldest: read_number(item, STREAM_OLDEST, OP)?,
        expires_at: read_number(item, STREAM_EXPIRES_AT, OP)?,
    })
}

fn message_of(item: &Item) -> Result<StoredMessage, StoreError> {
    const OP: &str = "Query(stream messages)";
    let sort = read_text(item, SORT_KEY, OP)?;
    let serial = sort
        .strip_prefix(STREAM_MESSAGE_PREFIX)
        .and_then(|digits| digits.parse().ok())
        .ok_or(StoreError::Corrupt {
            operation: OP,
            field: SORT_KEY,
        })?;
    let Some(AttributeValue::B(frame)) = item.get(STREAM_FRAME) else {
        return Err(StoreError::Corrupt {
            operation: OP,
            field: STREAM_FRAME,
        });
    };
    Ok(StoredMessage {
        serial,
        frame: frame.as_ref().to_vec(),
        expires_at: read_number(item, STREAM_EXPIRES_AT, OP)?,
    })
}

/// The event's marker: the generation and serial it was given.
struct Marker {
    stream_id: String,
    serial: u64,
}

/// What one attempt at an append came to.
enum Attempt {
    Done(Appended),
    /// Another append changed the head first.
    Raced,
}

impl DynamoStore {
    pub(super) async fn append_message(
        &self,
        stream: Stream<'_>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Appended, StoreError> {
        let pk = stream.key();
        for attempt in 0..APPEND_ATTEMPTS {
            match self.try_append(&pk, message, retention, now).await? {
                Attempt::Done(appended) => return Ok(appended),
                Attempt::Raced => {
                    let cap = 5u64 << attempt.min(5);
                    let wait = rand::rng().random_range(1..=cap);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        Err(StoreError::Request {
            operation: "TransactWriteItems(stream append)",
            message: format!(
                "other events of the same stream changed its head {APPEND_ATTEMPTS} times in a row; the event is retried"
            ),
        })
    }

    async fn try_append(
        &self,
        pk: &str,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Result<Attempt, StoreError> {
        let marker_key = format!("{STREAM_EVENT_PREFIX}{}", message.event_id);
        let (head, marker) = tokio::try_join!(
            self.get_consistent("GetItem(stream head)", pk, STREAM_HEAD_SORT_KEY.into()),
            self.get_consistent("GetItem(stream event)", pk, marker_key.clone()),
        )?;
        let head = head.as_ref().map(head_of).transpose()?;
        let live = head.as_ref().filter(|h| h.expires_at >= now);
        if let (Some(head), Some(marker)) = (live, marker.as_ref().map(marker_of).transpose()?) {
            if marker.stream_id == head.stream_id && marker.serial >= head.oldest {
                return Ok(Attempt::Done(Appended {
                    stream_id: marker.stream_id,
                    serial: marker.serial,
                }));
            }
        }
        let next = advance(head.as_ref(), retention, now);
        let writes = self.append_writes(pk, head.as_ref(), &next, message, marker_key)?;
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match written {
            Ok(_) => Ok(Attempt::Done(Appended {
                stream_id: next.stream_id,
                serial: next.serial,
            })),
            Err(e) if lost_race(&e) => Ok(Attempt::Raced),
            Err(e) => Err(request_error(
                "TransactWriteItems(stream append)",
                &self.table,
                e,
            )),
        }
    }

    /// The transaction's items: the head (conditioned on the one read), the message, the
    /// event's marker, and the deletion of the message that drops out, if one does.
    fn append_writes(
        &self,
        pk: &str,
        previous: Option<&StreamHead>,
        next: &StreamHead,
        message: &NewMessage<'_>,
        marker_key: String,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let build = |e| plain_error("TransactWriteItems(stream append)", e);
        let put = |item: Item| Put::builder().table_name(&self.table).set_item(Some(item));
        let head = conditioned_on(put(head_item(pk, next)), previous);
        let mut writes = vec![
            head.build().map_err(build)?,
            put(message_item(pk, next, message))
                .build()
                .map_err(build)?,
            put(marker_item(pk, next, marker_key))
                .build()
                .map_err(build)?,
        ]
        .into_iter()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .collect::<Vec<_>>();
        if let Some(dropped) = previous.and_then(|p| next.dropped_from(p)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(pk, message_key(dropped))))
                .build()
                .map_err(build)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(writes)
    }

    async fn get_consistent(
        &self,
        operation: &'static str,
        pk: &str,
        sk: String,
    ) -> Result<Option<Item>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(operation, &self.table, e))?;
        Ok(got.item)
    }

    pub(super) async fn read_head(
        &self,
        stream: Stream<'_>,
        now: i64,
    ) -> Result<Option<StreamHead>, StoreError> {
        let item = self
            .get_consistent(
                "GetItem(stream head)",
                &stream.key(),
                STREAM_HEAD_SORT_KEY.into(),
            )
            .await?;
        let head = item.as_ref().map(head_of).transpose()?;
        Ok(head.filter(|h| h.expires_at >= now))
    }

    /// Messages in `serials`, ascending, page after page until `limit` or the range's end.
    pub(super) async fn read_messages(
        &self,
        stream: Stream<'_>,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        const OP: &str = "Query(stream messages)";
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let page_limit = (limit - found.len()).min(i32::MAX as usize) as i32;
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!(
                    "{PARTITION_KEY} = :p AND {SORT_KEY} BETWEEN :first AND :last"
                ))
                .expression_attribute_values(":p", s(&stream.key()))
                .expression_attribute_values(":first", s(&message_key(*serials.start())))
                .expression_attribute_values(":last", s(&message_key(*serials.end())))
                .consistent_read(true)
                .limit(self.page_size.map_or(page_limit, |p| p.min(page_limit)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| request_error(OP, &self.table, e))?;
            for item in page.items() {
                if read_text(item, STREAM_GENERATION, OP)? == stream_id {
                    found.push(message_of(item)?);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

fn head_item(pk: &str, head: &StreamHead) -> Item {
    let mut item = item_key(pk, STREAM_HEAD_SORT_KEY.into());
    item.extend([
        (STREAM_GENERATION.into(), s(&head.stream_id)),
        (STREAM_SERIAL.into(), number(head.serial)),
        (STREAM_OLDEST.into(), number(head.oldest)),
        (STREAM_EXPIRES_AT.into(), n(head.expires_at)),
        (TTL_ATTRIBUTE.into(), n(head.expires_at)),
    ]);
    item
}

/// The head's write succeeds only over the head that was read (none: over no head).
fn conditioned_on(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
    previous: Option<&StreamHead>,
) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    match previous {
        Some(previous) => put
            .condition_expression("#serial = :serial AND #generation = :generation")
            .expression_attribute_names("#serial", STREAM_SERIAL)
            .expression_attribute_names("#generation", STREAM_GENERATION)
            .expression_attribute_values(":serial", number(previous.serial))
            .expression_attribute_values(":generation", s(&previous.stream_id)),
        None => put.condition_expression(format!("attribute_not_exists({PARTITION_KEY})")),
    }
}

fn message_item(pk: &str, head: &StreamHead, message: &NewMessage<'_>) -> Item {
    let mut item = item_key(pk, message_key(head.serial));
    item.extend([
        (STREAM_GENERATION.into(), s(&head.stream_id)),
        (
            STREAM_FRAME.into(),
            AttributeValue::B(Blob::new(message.frame)),
        ),
        (STREAM_EVENT_ID.into(), s(message.event_id)),
        (STREAM_EXPIRES_AT.into(), n(head.expires_at)),
        (TTL_ATTRIBUTE.into(), n(head.expires_at)),
    ]);
    item
}

fn marker_item(pk: &str, head: &StreamHead, marker_key: String) -> Item {
    let mut item = item_key(pk, marker_key);
    item.extend([
        (STREAM_GENERATION.into(), s(&head.stream_id)),
        (STREAM_SERIAL.into(), number(head.serial)),
        (TTL_ATTRIBUTE.into(), n(head.expires_at)),
    ]);
    item
}

fn marker_of(item: &Item) -> Result<Marker, StoreError> {
    const OP: &str = "GetItem(stream event)";
    Ok(Marker {
        stream_id: read_text(item, STREAM_GENERATION, OP)?,
        serial: read_number(item, STREAM_SERIAL, OP)?,
    })
}

/// Whether a transaction failed only because another append got to the head first.
fn lost_race<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return error.code() == Some("TransactionConflictException");
    };
    cancelled.cancellation_reasons().iter().any(|reason| {
        matches!(
            reason.code(),
            Some("ConditionalCheckFailed" | "TransactionConflict")
        )
    })
}
