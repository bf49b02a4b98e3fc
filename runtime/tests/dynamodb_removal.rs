//! Removing a connection from DynamoDB under its deadline, against a stand-in at the wire
//! (`support::fake_dynamodb`): unprocessed items and calls refused for throughput are sent
//! again until deleted, a removal cut by its deadline counts what it left and ends on time, and
//! a failed call is still an error. DynamoDB Local cannot show these on cue: it never leaves
//! items unprocessed nor throttles. The removal on
//! DynamoDB Local itself is in `store_contract.rs`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::fake_dynamodb::{sort_keys, BatchReply, FakeDynamo, QueryReply};
use wspush_runtime::aws;
use wspush_runtime::store::{ConnectionStore, DynamoStore, Removal, StoreError};

/// A deadline short enough for a test, long enough for the calls the stand-in does answer.
const DEADLINE: Duration = Duration::from_millis(300);
/// How late past its deadline a removal may return: it cancels the calls in flight instead of
/// waiting for them, so only scheduling stands between the two.
const LATE: Duration = Duration::from_secs(1);

fn store(fake: &FakeDynamo) -> DynamoStore {
    let client = aws::dynamodb_client(&aws::local_sdk_config("us-east-1"), &fake.endpoint);
    DynamoStore::new(client, "websocket", "GSI1").with_removal_deadline(DEADLINE)
}

/// Removes `busy=` through `fake` under [`DEADLINE`]; the removal and how long it took.
async fn timed_removal(fake: &FakeDynamo) -> (Removal, Duration) {
    let started = Instant::now();
    let removal = store(fake)
        .delete_connection("busy=")
        .await
        .expect("a removal cut short is not an error");
    (removal, started.elapsed())
}

/// How many times each sort key was asked to be deleted.
fn times_requested(fake: &FakeDynamo) -> BTreeMap<String, usize> {
    let mut times = BTreeMap::new();
    for key in fake.requested().into_iter().flatten() {
        *times.entry(key).or_default() += 1;
    }
    times
}

#[tokio::test]
async fn unprocessed_items_are_sent_again_until_deleted() {
    let keys = sort_keys(0..60);
    let script = vec![
        BatchReply::Unprocessed(10),
        BatchReply::Unprocessed(3),
        BatchReply::Unprocessed(25),
    ];
    let fake = FakeDynamo::start(
        vec![QueryReply::Page(keys.clone())],
        script,
        BatchReply::Done,
    )
    .await;
    let store = store(&fake).with_removal_deadline(Duration::from_secs(30));

    let removal = store.delete_connection("busy=").await.expect("removed");

    assert_eq!(removal, Removal::complete(60));
    assert_eq!(
        fake.requested().len(),
        3 + 3,
        "three batches (25, 25, 10), and one call again for each unprocessed answer"
    );
    let unprocessed = fake.unprocessed();
    let times = times_requested(&fake);
    for key in &keys {
        let handed_back = unprocessed.iter().filter(|k| *k == key).count();
        assert_eq!(
            times[key],
            1 + handed_back,
            "{key} is sent once, and again each time it comes back unprocessed"
        );
    }
}

#[tokio::test]
async fn a_batch_refused_for_throughput_is_sent_again_until_deleted() {
    // More refusals in a row than the SDK's own attempts: the SDK gives up on the call at
    // least once, and the removal sends it again instead of failing.
    let fake = FakeDynamo::start(
        vec![QueryReply::Page(sort_keys(0..10))],
        vec![BatchReply::Throttle; 6],
        BatchReply::Done,
    )
    .await;
    let store = store(&fake).with_removal_deadline(Duration::from_secs(30));

    let removal = store.delete_connection("busy=").await.expect("removed");

    assert_eq!(removal, Removal::complete(10));
    let requested = fake.requested();
    assert_eq!(requested.len(), 6 + 1, "each refused call is sent again");
    assert!(requested.iter().all(|keys| *keys == sort_keys(0..10)));
}

#[tokio::test]
async fn a_removal_cut_by_its_deadline_counts_what_it_left() {
    // One page of 100 keys: four batches go out at once; the first answered deletes 25 and
    // the others never hear back.
    let fake = FakeDynamo::start(
        vec![QueryReply::Page(sort_keys(0..100))],
        vec![BatchReply::Done],
        BatchReply::Stall,
    )
    .await;

    let (removal, took) = timed_removal(&fake).await;

    assert_eq!(
        removal,
        Removal {
            deleted: 25,
            left: 75,
            read_all: true
        }
    );
    assert!(!removal.is_complete());
    assert!(
        took >= DEADLINE,
        "returned after {took:?}, before its deadline"
    );
    assert!(took < DEADLINE + LATE, "returned after {took:?}");
}

#[tokio::test]
async fn reading_is_cut_by_the_deadline_too() {
    // The first page is deleted; the second is never answered.
    let fake = FakeDynamo::start(
        vec![QueryReply::Page(sort_keys(0..50)), QueryReply::Stall],
        vec![],
        BatchReply::Done,
    )
    .await;

    let (removal, took) = timed_removal(&fake).await;

    assert_eq!(
        removal,
        Removal {
            deleted: 50,
            left: 0,
            read_all: false
        }
    );
    assert!(!removal.is_complete());
    assert!(took < DEADLINE + LATE, "returned after {took:?}");
}

#[tokio::test]
async fn a_failed_batch_is_an_error() {
    let fake = FakeDynamo::start(
        vec![QueryReply::Page(sort_keys(0..10))],
        vec![BatchReply::Fail],
        BatchReply::Done,
    )
    .await;

    let err = store(&fake)
        .delete_connection("busy=")
        .await
        .expect_err("a store fault is an error");

    match err {
        StoreError::Request { operation, message } => {
            assert_eq!(operation, "BatchWriteItem");
            assert!(message.contains("ValidationException"), "{message}");
        }
        other => panic!("expected a request error, got {other:?}"),
    }
}
