//! Replaying a stream to one connection from the position the client names.
//!
//! The messages go as the usual pushes, one after another and in order, through the same
//! retries and pacing as a fan-out. A replay that would outlast its route's timeout stops at
//! [`timeouts::REPLAY_MS`] and says where it stopped (`more`), so the client reads the rest
//! from history in pages.

use std::time::Duration;

use tokio::time::Instant;
use wspush_contract::resume_failures::{
    CONTINUITY_UNVERIFIABLE, HISTORY_UNAVAILABLE, POSITION_EXPIRED, STREAM_RESET,
};
use wspush_contract::timeouts;

use super::{oldest_available, READ_PAGE};
use crate::deps::Deps;
use crate::fanout::InOrder;
use crate::frames::{with_position, Since};
use crate::push::PushOutcome;
use crate::store::{ConnectionStore, Stream, StreamHead};

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Every message after the client's position up to `serial` was sent (`replayed` of
    /// them); `more` when the replay stopped at its deadline before the stream's newest.
    Resumed {
        stream_id: Option<String>,
        serial: u64,
        replayed: u64,
        more: bool,
    },
    /// Continuity could not be proven; `reason` is one of `resume_failures`. What is
    /// available: the stream's generation, its oldest readable and newest serials.
    Failed {
        reason: &'static str,
        stream_id: Option<String>,
        oldest_serial: Option<u64>,
        serial: u64,
    },
}

/// Where `stream` stands, for a reply without a replay.
pub async fn position(deps: &Deps, stream: Stream<'_>, now: i64) -> Replay {
    match deps.store.stream_head(stream, now).await {
        Ok(head) => Replay::Resumed {
            stream_id: head.as_ref().map(|h| h.stream_id.clone()),
            serial: head.map_or(0, |h| h.serial),
            replayed: 0,
            more: false,
        },
        Err(e) => {
            tracing::error!(stream = %stream.key(), error = %e, "stream head unreadable");
            unavailable()
        }
    }
}

/// Sends `connection_id` every message of `stream` after `since`, in order, when continuity
/// from there can be proven.
pub async fn replay(
    deps: &Deps,
    connection_id: &str,
    stream: Stream<'_>,
    since: &Since,
    now: i64,
) -> Replay {
    let store = deps.store.as_ref();
    let head = match store.stream_head(stream, now).await {
        Ok(head) => head,
        Err(e) => {
            tracing::error!(stream = %stream.key(), error = %e, "stream head unreadable; nothing replayed");
            return unavailable();
        }
    };
    let Some(head) = head else {
        return without_stream(since);
    };
    match continuity(&head, since) {
        Err(reason) => failed(store, stream, &head, reason, now).await,
        Ok(after) if after == head.serial => resumed(&head, head.serial, 0, false),
        Ok(after) => send(deps, connection_id, stream, &head, after, now).await,
    }
}

/// Where a stream that has no messages leaves a client: at the start, unless it knew another
/// generation.
fn without_stream(since: &Since) -> Replay {
    if since.stream_id.is_none() && since.serial == 0 {
        return Replay::Resumed {
            stream_id: None,
            serial: 0,
            replayed: 0,
            more: false,
        };
    }
    let reason = match since.stream_id {
        Some(_) => STREAM_RESET,
        None => CONTINUITY_UNVERIFIABLE,
    };
    Replay::Failed {
        reason,
        stream_id: None,
        oldest_serial: None,
        serial: 0,
    }
}

/// The serial to replay after, when the head allows continuity from `since`; else why not.
fn continuity(head: &StreamHead, since: &Since) -> Result<u64, &'static str> {
    if since
        .stream_id
        .as_deref()
        .is_some_and(|id| id != head.stream_id)
    {
        return Err(STREAM_RESET);
    }
    if since.serial > head.serial {
        return Err(CONTINUITY_UNVERIFIABLE);
    }
    if since.serial + 1 < head.oldest {
        return Err(POSITION_EXPIRED);
    }
    Ok(since.serial)
}

/// Pushes the messages after `after`, page by page, checking each is the next serial and
/// still within retention.
async fn send(
    deps: &Deps,
    connection_id: &str,
    stream: Stream<'_>,
    head: &StreamHead,
    after: u64,
    now: i64,
) -> Replay {
    let store = deps.store.as_ref();
    let Ok(pusher) = deps.pusher() else {
        tracing::error!(%connection_id, "cannot replay: MANAGEMENT_ENDPOINT is not configured for the routes");
        return unavailable();
    };
    let sender = InOrder::new(pusher, &deps.push, connection_id);
    let deadline = Instant::now() + Duration::from_millis(timeouts::REPLAY_MS);
    let mut next = after + 1;
    while next <= head.serial {
        if Instant::now() >= deadline {
            return resumed(head, next - 1, next - 1 - after, true);
        }
        let page = match store
            .stream_messages(stream, &head.stream_id, next..=head.serial, READ_PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(%connection_id, stream = %stream.key(), error = %e, "history unreadable during a replay");
                return unavailable();
            }
        };
        let Some(first) = page.first() else {
            return failed(store, stream, head, CONTINUITY_UNVERIFIABLE, now).await;
        };
        if first.serial != next || first.expired(now) {
            let reason = if first.expired(now) {
                POSITION_EXPIRED
            } else {
                CONTINUITY_UNVERIFIABLE
            };
            return failed(store, stream, head, reason, now).await;
        }
        for message in page {
            if message.serial != next || message.expired(now) {
                return failed(store, stream, head, CONTINUITY_UNVERIFIABLE, now).await;
            }
            let frame = with_position(&message.frame, &head.stream_id, message.serial);
            match sender.send(&frame).await {
                PushOutcome::Delivered => next += 1,
                outcome => {
                    tracing::warn!(%connection_id, ?outcome, serial = message.serial, "replay stopped: a push did not get through");
                    return unavailable();
                }
            }
        }
    }
    resumed(head, head.serial, head.serial - after, false)
}

fn resumed(head: &StreamHead, serial: u64, replayed: u64, more: bool) -> Replay {
    Replay::Resumed {
        stream_id: Some(head.stream_id.clone()),
        serial,
        replayed,
        more,
    }
}

fn unavailable() -> Replay {
    Replay::Failed {
        reason: HISTORY_UNAVAILABLE,
        stream_id: None,
        oldest_serial: None,
        serial: 0,
    }
}

/// A failure with what is available: the stream's generation, oldest readable and newest
/// serials.
async fn failed(
    store: &dyn ConnectionStore,
    stream: Stream<'_>,
    head: &StreamHead,
    reason: &'static str,
    now: i64,
) -> Replay {
    let oldest_serial = oldest_available(store, stream, head, now)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(stream = %stream.key(), error = %e, "oldest serial unreadable");
            None
        });
    Replay::Failed {
        reason,
        stream_id: Some(head.stream_id.clone()),
        oldest_serial,
        serial: head.serial,
    }
}
