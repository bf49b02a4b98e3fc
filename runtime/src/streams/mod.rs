//! What a client that was away gets back: the messages it missed, in order, or a clear answer
//! that continuity cannot be proven.
//!
//! API Gateway ends every connection after two hours and idle ones after ten minutes, and
//! networks drop sockets; whatever was pushed meanwhile is lost unless it can be replayed. The
//! fan-out writes every message to its stream's history before pushing it (`fanout`), and a
//! client that comes back names the last position it saw. From there it gets every message
//! after it ([`replay`]), or pages through history itself ([`history`]). Continuity is proven
//! from the stream's head and the messages' serials and expiries, never assumed: a position
//! from another generation, past retention, ahead of the stream, or short of a message fails
//! with its reason, and the client refetches its state.

mod history;
mod replay;

pub use history::{page, HistoryPage};
pub use replay::{position, replay, Replay};

use crate::store::{ConnectionStore, StoreError, Stream, StreamHead};

/// Messages read from the store at a time.
const READ_PAGE: usize = 100;

/// The oldest serial still readable: `head.oldest`, or a later one when messages from there
/// have passed their own expiry (DynamoDB's TTL deletes late, so a message's presence proves
/// nothing; its expiry does). `None` when every kept message has expired. Usually the oldest
/// kept message has not expired, so one message is read first, and pages only when it has.
async fn oldest_available(
    store: &dyn ConnectionStore,
    stream: Stream<'_>,
    head: &StreamHead,
    now: i64,
) -> Result<Option<u64>, StoreError> {
    let mut from = head.oldest;
    let mut read = 1;
    while from <= head.serial {
        let page = store
            .stream_messages(stream, &head.stream_id, from..=head.serial, read)
            .await?;
        read = READ_PAGE;
        if let Some(kept) = page.iter().find(|m| !m.expired(now)) {
            return Ok(Some(kept.serial));
        }
        match page.last() {
            Some(last) => from = last.serial + 1,
            None => return Ok(None),
        }
    }
    Ok(None)
}
