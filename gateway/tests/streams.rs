//! Streams through a real gateway and real WebSocket clients: pushes carry their stream
//! position, a client that was away replays what it missed in order, continuity that cannot be
//! proven fails with its reason while the subscription stands, history pages under the
//! subscribe policy, and user streams stay their user's.

mod common;

use std::time::Duration;

use common::{next_json, send_json, silent_for, Client, TestGateway};
use serde_json::{json, Value};
use wspush_gateway::authorization::AuthorizationSettings;
use wspush_gateway::GatewayConfig;
use wspush_runtime::access::SubscribePolicy;
use wspush_runtime::store::Retention;

fn keeping(secs: u64, max_messages: u64) -> GatewayConfig {
    GatewayConfig {
        history: Retention { secs, max_messages },
        ..GatewayConfig::default()
    }
}

/// An event as EventBridge delivers it to the events function, with the id given.
async fn deliver(gw: &TestGateway, id: &str, detail_type: &str, detail: Value) {
    let event = json!({
        "version": "0", "id": id, "detail-type": detail_type,
        "source": "tests", "account": "000000000000", "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": detail
    });
    gw.state
        .functions()
        .events
        .invoke(event)
        .await
        .expect("the fan-out runs");
}

async fn publish(gw: &TestGateway, entity_id: &str, n: u64) {
    let id = uuid::Uuid::new_v4().to_string();
    let detail = json!({"entityId": entity_id, "message": {"n": n}});
    deliver(gw, &id, "Entity Updated", detail).await;
}

async fn notify(gw: &TestGateway, user_id: &str, n: u64) {
    let id = uuid::Uuid::new_v4().to_string();
    let detail = json!({"userId": user_id, "message": {"n": n}});
    deliver(gw, &id, "Send User Push Notification", detail).await;
}

async fn ask(client: &mut Client, frame: Value) -> Value {
    send_json(client, frame).await;
    next_json(client, 5).await
}

/// The next `count` frames, which must be pushes.
async fn pushes(client: &mut Client, count: usize) -> Vec<Value> {
    let mut pushes = Vec::new();
    for _ in 0..count {
        let push = next_json(client, 5).await;
        assert!(push["eventId"].is_string(), "a push: {push}");
        pushes.push(push);
    }
    pushes
}

/// The serials of the next `count` pushes.
async fn serials(client: &mut Client, count: usize) -> Vec<u64> {
    let pushes = pushes(client, count).await;
    pushes
        .iter()
        .map(|p| p["serial"].as_u64().expect("a serial"))
        .collect()
}

#[tokio::test]
async fn a_client_that_was_away_replays_what_it_missed_in_order() {
    let gw = TestGateway::start().await;
    let mut first = gw.connect("ada").await;
    let reply = ask(&mut first, json!({"action": "subscribe", "entityId": "E"})).await;
    assert_eq!(
        reply,
        json!({"type": "Subscribed", "entityId": "E", "streamId": null, "serial": 0})
    );
    for n in 1..=3 {
        publish(&gw, "E", n).await;
    }
    let seen = pushes(&mut first, 3).await;
    let stream_id = seen[2]["streamId"].clone();
    assert_eq!(
        seen.iter().map(|p| p["serial"].clone()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(seen.iter().all(|p| p["streamId"] == stream_id));
    drop(first);
    gw.disconnected().await;
    for n in 4..=8 {
        publish(&gw, "E", n).await;
    }
    let mut back = gw.connect("ada").await;
    let since = json!({"streamId": stream_id, "serial": 3});
    send_json(
        &mut back,
        json!({"action": "subscribe", "entityId": "E", "since": since}),
    )
    .await;
    assert_eq!(
        serials(&mut back, 5).await,
        [4, 5, 6, 7, 8],
        "replayed in order"
    );
    let reply = next_json(&mut back, 5).await;
    assert_eq!(
        reply,
        json!({"type": "Subscribed", "entityId": "E", "streamId": stream_id, "serial": 8, "replayed": 5})
    );
    publish(&gw, "E", 9).await;
    assert_eq!(serials(&mut back, 1).await, [9], "and live from there");
    gw.stop().await;
}

#[tokio::test]
async fn an_event_delivered_twice_keeps_its_serial() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect("ben").await;
    ask(&mut client, json!({"action": "subscribe", "entityId": "E"})).await;
    let detail = json!({"entityId": "E", "message": "once"});
    deliver(&gw, "event-1", "Entity Updated", detail.clone()).await;
    deliver(&gw, "event-1", "Entity Updated", detail).await;
    assert_eq!(serials(&mut client, 2).await, [1, 1]);
    publish(&gw, "E", 2).await;
    assert_eq!(
        serials(&mut client, 1).await,
        [2],
        "no serial was spent on the repeat"
    );
    gw.stop().await;
}

#[tokio::test]
async fn continuity_that_cannot_be_proven_fails_with_its_reason_and_the_subscription_stands() {
    let gw = TestGateway::start_with(keeping(3_600, 3)).await;
    for n in 1..=6 {
        publish(&gw, "E", n).await;
    }
    let mut client = gw.connect("cy").await;
    let current = ask(&mut client, json!({"action": "subscribe", "entityId": "E"})).await;
    let stream_id = current["streamId"]
        .as_str()
        .expect("a generation")
        .to_string();
    assert_eq!(current["serial"], 6);
    let cases = [
        (
            json!({"streamId": stream_id, "serial": 1}),
            "position_expired",
        ),
        (json!({"streamId": "0123", "serial": 5}), "stream_reset"),
        (
            json!({"streamId": stream_id, "serial": 9}),
            "continuity_unverifiable",
        ),
        (json!({"streamId": null, "serial": 0}), "position_expired"),
    ];
    for (since, reason) in cases {
        let frame = json!({"action": "subscribe", "entityId": "E", "since": since});
        assert_eq!(
            ask(&mut client, frame).await,
            json!({"type": "ResumeFailed", "entityId": "E", "reason": reason,
                   "streamId": stream_id, "oldestSerial": 4, "serial": 6}),
            "{since}"
        );
    }
    publish(&gw, "E", 7).await;
    assert_eq!(serials(&mut client, 1).await, [7], "still subscribed");
    let since = json!({"streamId": stream_id, "serial": 4});
    send_json(
        &mut client,
        json!({"action": "subscribe", "entityId": "E", "since": since}),
    )
    .await;
    assert_eq!(
        serials(&mut client, 3).await,
        [5, 6, 7],
        "the oldest kept is enough"
    );
    assert_eq!(next_json(&mut client, 5).await["replayed"], 3);
    gw.stop().await;
}

#[tokio::test]
async fn a_position_past_retention_expires_though_its_records_remain() {
    // Three seconds of history, in whole seconds: the first message has expired four seconds
    // after it was written, while the second, written two seconds later, has not.
    let gw = TestGateway::start_with(keeping(3, 1_000)).await;
    publish(&gw, "E", 1).await;
    let mut client = gw.connect("di").await;
    let reply = ask(&mut client, json!({"action": "subscribe", "entityId": "E"})).await;
    let stream_id = reply["streamId"].clone();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    publish(&gw, "E", 2).await;
    assert_eq!(serials(&mut client, 1).await, [2]);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let since = json!({"streamId": stream_id, "serial": 0});
    let frame = json!({"action": "subscribe", "entityId": "E", "since": since});
    assert_eq!(
        ask(&mut client, frame).await,
        json!({"type": "ResumeFailed", "entityId": "E", "reason": "position_expired",
               "streamId": stream_id, "oldestSerial": 2, "serial": 2})
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_user_stream_resumes_for_its_user_and_no_entity_id_reaches_it() {
    let gw = TestGateway::start().await;
    notify(&gw, "bob", 1).await;
    notify(&gw, "bob", 2).await;
    let mut bob = gw.connect("bob").await;
    let since = json!({"streamId": null, "serial": 0});
    send_json(&mut bob, json!({"action": "resume", "since": since})).await;
    assert_eq!(serials(&mut bob, 2).await, [1, 2]);
    let resumed = next_json(&mut bob, 5).await;
    assert_eq!(
        (resumed["type"].clone(), resumed["stream"].clone()),
        (json!("Resumed"), json!("user"))
    );
    assert_eq!(
        (resumed["serial"].clone(), resumed["replayed"].clone()),
        (json!(2), json!(2))
    );

    let mut mallory = gw.connect("mallory").await;
    for spelled in ["bob", "user#bob", "stream#user#bob", "#user#bob"] {
        let since = json!({"streamId": null, "serial": 0});
        let frame = json!({"action": "subscribe", "entityId": spelled, "since": since});
        let reply = ask(&mut mallory, frame).await;
        assert_eq!(
            (reply["type"].clone(), reply["serial"].clone()),
            (json!("Subscribed"), json!(0)),
            "{spelled}: {reply}"
        );
        let page = ask(
            &mut mallory,
            json!({"action": "history", "entityId": spelled}),
        )
        .await;
        assert_eq!(page["messages"], json!([]), "{spelled}");
    }
    notify(&gw, "bob", 3).await;
    assert_eq!(serials(&mut bob, 1).await, [3]);
    assert!(
        silent_for(&mut mallory, 300).await,
        "none of bob's notifications, live or replayed"
    );
    let own = ask(&mut mallory, json!({"action": "history", "stream": "user"})).await;
    assert_eq!(
        (own["serial"].clone(), own["messages"].clone()),
        (json!(0), json!([]))
    );
    gw.stop().await;
}

#[tokio::test]
async fn history_pages_both_ways_under_the_subscribe_policy() {
    let mut authorization = AuthorizationSettings::default();
    authorization.access.policy =
        Some(SubscribePolicy::parse("user/{data.userId}/*").expect("policy"));
    let gw = TestGateway::start_with(GatewayConfig {
        authorization,
        ..GatewayConfig::default()
    })
    .await;
    for n in 1..=5 {
        publish(&gw, "user/eve/feed", n).await;
    }
    let mut eve = gw.connect("eve").await;
    let page = |frame: Value| {
        let entity = json!({"action": "history", "entityId": "user/eve/feed"});
        let mut frame = frame;
        frame
            .as_object_mut()
            .expect("object")
            .extend(entity.as_object().expect("object").clone());
        frame
    };
    let after = ask(&mut eve, page(json!({"after": 2, "limit": 2}))).await;
    let got = |reply: &Value| -> Vec<u64> {
        reply["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["serial"].as_u64().expect("serial"))
            .collect()
    };
    assert_eq!(
        (
            got(&after),
            after["more"].clone(),
            after["oldestSerial"].clone()
        ),
        (vec![3, 4], json!(true), json!(1))
    );
    let newest = ask(&mut eve, page(json!({"limit": 2}))).await;
    assert_eq!(
        (got(&newest), newest["more"].clone()),
        (vec![4, 5], json!(true))
    );
    let back = ask(&mut eve, page(json!({"before": 4}))).await;
    assert_eq!(
        (got(&back), back["more"].clone(), back["serial"].clone()),
        (vec![1, 2, 3], json!(false), json!(5))
    );
    assert_eq!(
        back["messages"][0]["message"],
        json!({"n": 1}),
        "complete push frames"
    );

    let mut other = gw.connect("frank").await;
    let refused = ask(
        &mut other,
        json!({"action": "history", "entityId": "user/eve/feed"}),
    )
    .await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("Error"), json!("Forbidden"))
    );
    let bad = ask(
        &mut other,
        json!({"action": "history", "entityId": "x", "limit": 500}),
    )
    .await;
    assert_eq!(bad["code"], "BadRequest");
    gw.stop().await;
}

#[tokio::test]
async fn with_streams_off_nothing_carries_a_position() {
    let gw = TestGateway::start_with(keeping(3_600, 0)).await;
    let mut client = gw.connect("gil").await;
    let reply = ask(&mut client, json!({"action": "subscribe", "entityId": "E"})).await;
    assert_eq!(reply, json!({"type": "Subscribed", "entityId": "E"}));
    publish(&gw, "E", 1).await;
    let push = next_json(&mut client, 5).await;
    assert!(
        push.get("serial").is_none() && push.get("streamId").is_none(),
        "{push}"
    );
    let refused = ask(&mut client, json!({"action": "resume"})).await;
    assert_eq!(refused["code"], "HistoryDisabled");
    gw.stop().await;
}
