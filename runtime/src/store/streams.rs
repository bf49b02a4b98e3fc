//! Streams in the store: each entity's updates and each user's notifications, numbered.
//!
//! A stream has a generation (`streamId`, random) and serials 1, 2, 3, … that never skip within
//! it. Every message is kept in the stream's history for the configured retention, so a client
//! that was away replays what it missed instead of losing it. The store hands out serials
//! atomically and idempotently: an event delivered twice (SQS is at-least-once) gets the serial
//! it got the first time, and concurrent events of one stream get distinct, contiguous serials.
//!
//! The newest and the oldest kept serial live on the stream's head record, written in the
//! same atomic step as the message. The oldest is stored, not inferred from which message
//! records exist: DynamoDB's TTL deletes late, so a record's presence proves nothing, and each
//! message carries its own expiry that every read checks.

use wspush_contract::table::{ENTITY_STREAM_PREFIX, USER_STREAM_PREFIX};

/// Whose stream: an entity's updates or a user's notifications. Their keys never collide,
/// whatever the ids contain (`wspush_contract::table::ENTITY_STREAM_PREFIX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream<'a> {
    Entity(&'a str),
    User(&'a str),
}

impl Stream<'_> {
    /// The stream's partition key in the table (and its key in the embedded store).
    pub fn key(&self) -> String {
        match self {
            Stream::Entity(id) => format!("{ENTITY_STREAM_PREFIX}{id}"),
            Stream::User(id) => format!("{USER_STREAM_PREFIX}{id}"),
        }
    }
}

/// How long a stream keeps its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Seconds each message stays readable.
    pub secs: u64,
    /// The most messages kept; older ones drop out as new ones come.
    pub max_messages: u64,
}

impl Retention {
    /// Streams are switched off (`HISTORY_MAX_MESSAGES=0`).
    pub fn is_off(&self) -> bool {
        self.max_messages == 0
    }
}

/// Where a stream stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHead {
    /// The generation: serials restart at 1 under a new one.
    pub stream_id: String,
    /// The newest serial.
    pub serial: u64,
    /// The oldest serial the head still counts as kept (never below 1). Messages from here on
    /// may still have passed their own expiry.
    pub oldest: u64,
    /// When the head itself lapses: the newest message's expiry. A lapsed head is no head.
    pub expires_at: i64,
}

impl StreamHead {
    /// The head after one more message: the next serial in this generation, the oldest moved
    /// up when more than `max_messages` would be kept.
    pub fn next(&self, retention: &Retention, now: i64) -> StreamHead {
        let serial = self.serial + 1;
        StreamHead {
            stream_id: self.stream_id.clone(),
            serial,
            oldest: self.oldest.max(first_kept(serial, retention)),
            expires_at: expiry(now, retention),
        }
    }

    /// The first head of a new generation.
    pub fn first(retention: &Retention, now: i64) -> StreamHead {
        StreamHead {
            stream_id: new_generation(),
            serial: 1,
            oldest: 1,
            expires_at: expiry(now, retention),
        }
    }

    /// The serial that drops out of history when this head is written, if one does.
    pub fn dropped_from(&self, previous: &StreamHead) -> Option<u64> {
        (self.oldest > previous.oldest).then_some(self.oldest - 1)
    }
}

/// The head's successor: the next serial when `current` is a live head, else a new generation.
pub fn advance(current: Option<&StreamHead>, retention: &Retention, now: i64) -> StreamHead {
    match current.filter(|head| head.expires_at >= now) {
        Some(head) => head.next(retention, now),
        None => StreamHead::first(retention, now),
    }
}

fn first_kept(serial: u64, retention: &Retention) -> u64 {
    (serial + 1).saturating_sub(retention.max_messages).max(1)
}

fn expiry(now: i64, retention: &Retention) -> i64 {
    now.saturating_add(i64::try_from(retention.secs).unwrap_or(i64::MAX))
}

/// A random generation id: 32 hex digits.
fn new_generation() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// A message to add to a stream.
#[derive(Clone, Copy, Debug)]
pub struct NewMessage<'a> {
    /// The EventBridge event id: the same id always gets the same serial.
    pub event_id: &'a str,
    /// The push frame without its position (`streams::position` adds it when sending).
    pub frame: &'a [u8],
}

/// The position a message was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub stream_id: String,
    pub serial: u64,
}

/// A message read from history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub serial: u64,
    /// The push frame without its position.
    pub frame: Vec<u8>,
    /// When it leaves history (epoch seconds), whether or not TTL has deleted it yet.
    pub expires_at: i64,
}

impl StoredMessage {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at < now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP_THREE: Retention = Retention {
        secs: 100,
        max_messages: 3,
    };

    #[test]
    fn serials_count_up_and_the_oldest_follows_the_most_kept() {
        let mut head = advance(None, &KEEP_THREE, 0);
        assert_eq!((head.serial, head.oldest), (1, 1));
        let mut dropped = Vec::new();
        for now in 1..6 {
            let next = advance(Some(&head), &KEEP_THREE, now);
            dropped.extend(next.dropped_from(&head));
            head = next;
        }
        assert_eq!((head.serial, head.oldest, head.expires_at), (6, 4, 105));
        assert_eq!(dropped, [1, 2, 3]);
    }

    #[test]
    fn a_lapsed_head_starts_a_new_generation() {
        let head = advance(None, &KEEP_THREE, 0);
        let same = advance(Some(&head), &KEEP_THREE, 100);
        assert_eq!(same.stream_id, head.stream_id);
        let reset = advance(Some(&head), &KEEP_THREE, 101);
        assert_ne!(reset.stream_id, head.stream_id);
        assert_eq!((reset.serial, reset.oldest), (1, 1));
    }

    #[test]
    fn entity_and_user_streams_never_share_a_key() {
        let user_key = Stream::User("u").key();
        let spelled = user_key.replace("stream#entity#", "");
        assert_ne!(Stream::Entity(&spelled).key(), user_key);
        assert_ne!(Stream::Entity("user#u").key(), user_key);
        assert_ne!(Stream::Entity(&user_key).key(), user_key);
    }
}
