//! Pages of a stream's history, for a client that fills a gap or scrolls back.
//!
//! A page is one reply, so it holds whole push frames up to API Gateway's 128 KB message limit
//! and says `more` when it was cut, by the page size asked for or by that limit.

use serde_json::value::RawValue;
use wspush_contract::limits;

use super::{oldest_available, READ_PAGE};
use crate::frames::{with_position, Frames, Page, HISTORY_ENVELOPE_BYTES};
use crate::store::{ConnectionStore, StoreError, StoredMessage, Stream, StreamHead};

/// One page of a stream's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub stream_id: Option<String>,
    pub oldest_serial: Option<u64>,
    pub serial: u64,
    pub messages: Frames,
    pub more: bool,
}

/// The page of `stream` that `page` and `limit` ask for.
pub async fn page(
    store: &dyn ConnectionStore,
    stream: Stream<'_>,
    page: Page,
    limit: usize,
    now: i64,
) -> Result<HistoryPage, StoreError> {
    let Some(head) = store.stream_head(stream, now).await? else {
        return Ok(HistoryPage::default());
    };
    let empty = HistoryPage {
        stream_id: Some(head.stream_id.clone()),
        serial: head.serial,
        ..HistoryPage::default()
    };
    let Some(oldest) = oldest_available(store, stream, &head, now).await? else {
        return Ok(empty);
    };
    let Some((first, last, more)) = range(&head, oldest, page, limit) else {
        return Ok(HistoryPage {
            oldest_serial: Some(oldest),
            ..empty
        });
    };
    let found = store
        .stream_messages(stream, &head.stream_id, first..=last, READ_PAGE.max(limit))
        .await?;
    let kept: Vec<StoredMessage> = found.into_iter().filter(|m| !m.expired(now)).collect();
    let (messages, cut) = fit(&head, kept, matches!(page, Page::After(_)));
    Ok(HistoryPage {
        oldest_serial: Some(oldest),
        messages,
        more: more || cut,
        ..empty
    })
}

/// The serials a page covers, and whether more lie beyond it in the direction read.
fn range(head: &StreamHead, oldest: u64, page: Page, limit: usize) -> Option<(u64, u64, bool)> {
    let count = limit.max(1) as u64;
    match page {
        Page::After(after) => {
            let first = after.saturating_add(1).max(oldest);
            let last = first.saturating_add(count - 1).min(head.serial);
            (first <= last).then_some((first, last, last < head.serial))
        }
        Page::Before(before) => {
            let last = before.saturating_sub(1).min(head.serial);
            let first = (last + 1).saturating_sub(count).max(oldest);
            (first <= last && last >= oldest).then_some((first, last, first > oldest))
        }
        Page::Newest => range(head, oldest, Page::Before(head.serial + 1), limit),
    }
}

/// The frames that fit one reply, with their positions; `from_start` keeps the oldest ones
/// (a gap being filled), else the newest (scrolling back). Whether any were cut.
fn fit(head: &StreamHead, messages: Vec<StoredMessage>, from_start: bool) -> (Frames, bool) {
    let budget = limits::MAX_MESSAGE_BYTES - HISTORY_ENVELOPE_BYTES;
    let total = messages.len();
    let frames = messages.into_iter().filter_map(|m| {
        let frame = with_position(&m.frame, &head.stream_id, m.serial);
        let text = String::from_utf8(frame).ok()?;
        RawValue::from_string(text).ok()
    });
    let ordered: Vec<Box<RawValue>> = if from_start {
        frames.collect()
    } else {
        frames.rev().collect()
    };
    let mut used = 0;
    let mut kept: Vec<Box<RawValue>> = ordered
        .into_iter()
        .take_while(|frame| {
            used += frame.get().len() + 1;
            used <= budget
        })
        .collect();
    if !from_start {
        kept.reverse();
    }
    let cut = kept.len() < total;
    (Frames(kept), cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(serial: u64) -> StreamHead {
        StreamHead {
            stream_id: "g".into(),
            serial,
            oldest: 1,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn pages_cover_what_was_asked_and_say_what_lies_beyond() {
        let h = head(250);
        assert_eq!(range(&h, 1, Page::After(0), 100), Some((1, 100, true)));
        assert_eq!(range(&h, 1, Page::After(200), 100), Some((201, 250, false)));
        assert_eq!(range(&h, 1, Page::After(250), 100), None);
        assert_eq!(range(&h, 40, Page::After(3), 10), Some((40, 49, true)));
        assert_eq!(range(&h, 1, Page::Newest, 100), Some((151, 250, true)));
        assert_eq!(range(&h, 1, Page::Before(51), 100), Some((1, 50, false)));
        assert_eq!(range(&h, 60, Page::Before(51), 100), None);
        assert_eq!(range(&h, 1, Page::Before(1), 100), None);
    }

    #[test]
    fn a_page_holds_no_more_than_one_reply_can_carry() {
        let big = format!(
            r#"{{"type":"Entity Updated","message":"{}"}}"#,
            "x".repeat(30_000)
        );
        let messages: Vec<StoredMessage> = (1..=6)
            .map(|serial| StoredMessage {
                serial,
                frame: big.clone().into_bytes(),
                expires_at: i64::MAX,
            })
            .collect();
        let (forward, cut) = fit(&head(6), messages.clone(), true);
        assert!(cut);
        assert_eq!(forward.0.len(), 4);
        assert!(forward.0[0].get().contains(r#""serial":1,"#));
        let (back, _) = fit(&head(6), messages, false);
        assert!(back.0[3].get().contains(r#""serial":6,"#));
    }
}
