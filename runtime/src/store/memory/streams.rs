//! Streams in the embedded store: each stream's head, its kept messages and the event ids
//! that were given serials, under the store's one lock, so appends are atomic as DynamoDB's
//! transaction makes them.

use std::collections::{BTreeMap, HashMap};

use crate::store::streams::{advance, Appended, NewMessage, Retention, StoredMessage, StreamHead};

/// One stream's records.
#[derive(Debug)]
pub(super) struct StreamRecords {
    head: StreamHead,
    /// Serial → message, the kept ones only.
    messages: BTreeMap<u64, KeptMessage>,
    /// Event id → serial, for the kept messages.
    events: HashMap<String, u64>,
}

#[derive(Debug)]
struct KeptMessage {
    event_id: String,
    message: StoredMessage,
}

impl StreamRecords {
    /// Appends to `records` (absent: a stream never written), returning the message's position.
    pub(super) fn append(
        records: &mut Option<StreamRecords>,
        message: &NewMessage<'_>,
        retention: &Retention,
        now: i64,
    ) -> Appended {
        if let Some(appended) = records
            .as_ref()
            .and_then(|r| r.known(message.event_id, now))
        {
            return appended;
        }
        let head = advance(records.as_ref().map(|r| &r.head), retention, now);
        let stream = match records {
            Some(r) if r.head.stream_id == head.stream_id => r,
            _ => records.insert(StreamRecords::new(head.clone())),
        };
        stream.keep(message, head, now);
        Appended {
            stream_id: stream.head.stream_id.clone(),
            serial: stream.head.serial,
        }
    }

    fn new(head: StreamHead) -> Self {
        Self {
            head,
            messages: BTreeMap::new(),
            events: HashMap::new(),
        }
    }

    /// The position `event_id` was given, while the head is live.
    fn known(&self, event_id: &str, now: i64) -> Option<Appended> {
        let serial = *self.events.get(event_id)?;
        (self.head.expires_at >= now).then(|| Appended {
            stream_id: self.head.stream_id.clone(),
            serial,
        })
    }

    fn keep(&mut self, message: &NewMessage<'_>, head: StreamHead, now: i64) {
        let serial = head.serial;
        let expires_at = head.expires_at;
        self.head = head;
        let first_kept = self.head.oldest;
        while let Some(entry) = self.messages.first_entry() {
            if *entry.key() >= first_kept && !entry.get().message.expired(now) {
                break;
            }
            self.events.remove(&entry.remove().event_id);
        }
        self.events.insert(message.event_id.to_string(), serial);
        self.messages.insert(
            serial,
            KeptMessage {
                event_id: message.event_id.to_string(),
                message: StoredMessage {
                    serial,
                    frame: message.frame.to_vec(),
                    expires_at,
                },
            },
        );
    }

    /// The live head.
    pub(super) fn head(&self, now: i64) -> Option<StreamHead> {
        (self.head.expires_at >= now).then(|| self.head.clone())
    }

    /// Messages of generation `stream_id` in `serials`, ascending, at most `limit`.
    pub(super) fn messages(
        &self,
        stream_id: &str,
        serials: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Vec<StoredMessage> {
        if self.head.stream_id != stream_id {
            return Vec::new();
        }
        self.messages
            .range(serials)
            .take(limit)
            .map(|(_, kept)| kept.message.clone())
            .collect()
    }
}
