//! Streams honour one contract in both stores: the suite below runs against the embedded
//! [`MemoryStore`] and against [`DynamoStore`] on DynamoDB Local (`DYNAMODB_ENDPOINT`, as
//! `scripts/test.sh` sets it), each DynamoDB test on a table of its own.

mod support;

use std::collections::BTreeSet;

use futures::{stream, StreamExt};
use support::fresh_table;
use wspush_runtime::store::{
    Appended, ConnectionStore, MemoryStore, NewMessage, Retention, Stream,
};

const KEEP: Retention = Retention {
    secs: 3_600,
    max_messages: 1_000,
};

async fn append(
    store: &dyn ConnectionStore,
    stream: Stream<'_>,
    event: &str,
    now: i64,
) -> Appended {
    let frame = format!(r#"{{"type":"Entity Updated","eventId":"{event}"}}"#);
    let message = NewMessage {
        event_id: event,
        frame: frame.as_bytes(),
    };
    store
        .append(stream, &message, &KEEP, now)
        .await
        .expect("append")
}

/// Serials count from 1 within one generation; an event appended again keeps its serial and
/// adds nothing; each message reads back as written.
async fn serials_and_idempotence(store: &dyn ConnectionStore) {
    let stream = Stream::Entity("order-1");
    let first = append(store, stream, "ev-1", 100).await;
    assert_eq!(first.serial, 1);
    let second = append(store, stream, "ev-2", 101).await;
    assert_eq!((second.serial, &second.stream_id), (2, &first.stream_id));
    assert_eq!(
        append(store, stream, "ev-1", 102).await,
        first,
        "a redelivery keeps its serial"
    );
    let head = store
        .stream_head(stream, 103)
        .await
        .expect("head")
        .expect("a head");
    assert_eq!((head.serial, head.oldest), (2, 1));
    let messages = store
        .stream_messages(stream, &head.stream_id, 1..=10, 10)
        .await
        .expect("read");
    let serials: Vec<u64> = messages.iter().map(|m| m.serial).collect();
    assert_eq!(serials, [1, 2]);
    assert_eq!(
        messages[1].frame,
        br#"{"type":"Entity Updated","eventId":"ev-2"}"#
    );
    assert!(store
        .stream_messages(stream, "another-generation", 1..=10, 10)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        store
            .stream_head(Stream::Entity("never"), 0)
            .await
            .expect("head"),
        None
    );
}

/// Concurrent events of one stream get distinct, contiguous serials, and each event one serial
/// however often it is delivered at once.
async fn concurrent_appends(store: &dyn ConnectionStore) {
    let stream = Stream::Entity("hot");
    let deliveries: Vec<String> = (0..24)
        .flat_map(|i| [format!("e{i}"), format!("e{i}")])
        .collect();
    let appended: Vec<(String, Appended)> = stream::iter(deliveries)
        .map(|event| async move {
            let appended = append(store, stream, &event, 500).await;
            (event, appended)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let serials: BTreeSet<u64> = appended.iter().map(|(_, a)| a.serial).collect();
    assert_eq!(serials, (1..=24).collect::<BTreeSet<u64>>());
    for (event, position) in &appended {
        let twin = appended.iter().filter(|(e, _)| e == event);
        assert!(
            twin.clone().all(|(_, p)| p == position),
            "{event} got two serials"
        );
    }
}

/// The most messages kept moves the stored oldest serial; a lapsed head starts a generation.
async fn retention(store: &dyn ConnectionStore) {
    let three = Retention {
        secs: 50,
        max_messages: 3,
    };
    let stream = Stream::User("ida");
    for (i, now) in (1..=5).zip(1_000..) {
        let frame = format!(r#"{{"n":{i}}}"#);
        let message = NewMessage {
            event_id: &format!("u{i}"),
            frame: frame.as_bytes(),
        };
        store
            .append(stream, &message, &three, now)
            .await
            .expect("append");
    }
    let head = store
        .stream_head(stream, 1_010)
        .await
        .expect("head")
        .expect("a head");
    assert_eq!((head.serial, head.oldest, head.expires_at), (5, 3, 1_054));
    let kept = store
        .stream_messages(stream, &head.stream_id, head.oldest..=head.serial, 10)
        .await
        .expect("read");
    assert_eq!(kept.iter().map(|m| m.serial).collect::<Vec<_>>(), [3, 4, 5]);
    assert!(kept[0].expired(1_053) && !kept[2].expired(1_054));
    assert_eq!(
        store.stream_head(stream, 1_055).await.expect("head"),
        None,
        "lapsed"
    );
    let message = NewMessage {
        event_id: "u1",
        frame: b"{}",
    };
    let reborn = store
        .append(stream, &message, &three, 1_100)
        .await
        .expect("append");
    assert_eq!(reborn.serial, 1);
    assert_ne!(reborn.stream_id, head.stream_id, "a new generation");
}

/// An entity stream and a user stream never share records, whatever the ids spell.
async fn isolated_keys(store: &dyn ConnectionStore) {
    let user = Stream::User("bob");
    append(store, user, "private", 10).await;
    for spelled in ["user#bob", "stream#user#bob", "#user#bob", "bob"] {
        let entity = Stream::Entity(spelled);
        assert_eq!(
            store.stream_head(entity, 10).await.expect("head"),
            None,
            "{spelled}"
        );
    }
    let entity = Stream::Entity("user#bob");
    let appended = append(store, entity, "public", 11).await;
    assert_eq!(appended.serial, 1);
    let head = store
        .stream_head(user, 12)
        .await
        .expect("head")
        .expect("a head");
    assert_eq!(head.serial, 1);
    assert_ne!(head.stream_id, appended.stream_id);
}

#[tokio::test]
async fn memory_store_keeps_streams() {
    serials_and_idempotence(&MemoryStore::new()).await;
    concurrent_appends(&MemoryStore::new()).await;
    retention(&MemoryStore::new()).await;
    isolated_keys(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dynamodb_store_keeps_streams() {
    serials_and_idempotence(&fresh_table("streams").await.with_page_size(1)).await;
    concurrent_appends(&fresh_table("hot-stream").await).await;
    retention(&fresh_table("retention").await).await;
    isolated_keys(&fresh_table("stream-keys").await).await;
}
