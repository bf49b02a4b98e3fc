//! Who may read what, through a real gateway and real WebSocket clients: the subscribe policy's
//! refusals, the cap on subscriptions per connection, the end of a connection with its token,
//! and tokens of an identity provider verified against its published keys.

mod common;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{
    close_code, connect_raw, next_json, now, refusal_status, send_json, silent_for, Client,
    TestGateway,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use wspush_gateway::authorization::AuthorizationSettings;
use wspush_gateway::GatewayConfig;
use wspush_runtime::access::SubscribePolicy;
use wspush_runtime::auth::ProviderKeys;
use wspush_runtime::store::ConnectionStore;

/// The runtime's unit-test keys: `jwks.json` holds the public half of `rsa.pem` as `rsa-1`.
const TEST_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/src/auth/testdata");

fn with_policy(policy: &str, max_subscriptions: usize, leeway_secs: u64) -> GatewayConfig {
    let mut authorization = AuthorizationSettings::default();
    authorization.access.policy = Some(SubscribePolicy::parse(policy).expect("policy parses"));
    authorization.access.max_subscriptions_per_connection = max_subscriptions;
    authorization.jwt.leeway_secs = leeway_secs;
    GatewayConfig {
        authorization,
        ..GatewayConfig::default()
    }
}

/// An "Entity Updated" event as EventBridge delivers it to the events function; its fan-out
/// report.
async fn publish(gw: &TestGateway, entity_id: &str) -> Value {
    let event = json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Entity Updated",
        "source": "tests", "account": "000000000000", "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"entityId": entity_id, "message": "hello"}
    });
    gw.state
        .functions()
        .events
        .invoke(event)
        .await
        .expect("the fan-out runs")
}

async fn subscribe(client: &mut Client, entity_id: &str) -> Value {
    send_json(
        client,
        json!({"action": "subscribe", "entityId": entity_id}),
    )
    .await;
    next_json(client, 5).await
}

async fn connect_with(gw: &TestGateway, token: &str) -> Client {
    let url = format!("{}?access_token={token}", gw.ws_url());
    connect_raw(&url, None).await.expect("connects").0
}

#[tokio::test]
async fn a_user_cannot_subscribe_to_another_users_entity_nor_receive_its_pushes() {
    let gw = TestGateway::start_with(with_policy("user/{data.userId}/*", 200, 30)).await;
    let mut alice = gw.connect("alice").await;
    let mut bob = gw.connect("bob").await;
    assert_eq!(
        subscribe(&mut alice, "user/bob/orders").await,
        json!({"type": "Error", "code": "Forbidden", "entityId": "user/bob/orders",
               "message": "you may not subscribe to \"user/bob/orders\": the subscribe policy does not allow it"})
    );
    assert_eq!(
        subscribe(&mut bob, "user/bob/orders").await,
        json!({"type": "Subscribed", "entityId": "user/bob/orders", "streamId": null, "serial": 0})
    );
    assert_eq!(
        subscribe(&mut alice, "user/alice/orders").await,
        json!({"type": "Subscribed", "entityId": "user/alice/orders", "streamId": null, "serial": 0})
    );
    let tally = publish(&gw, "user/bob/orders").await;
    assert_eq!(tally["delivered"], 1, "{tally}");
    assert_eq!(next_json(&mut bob, 5).await["entityId"], "user/bob/orders");
    assert!(silent_for(&mut alice, 300).await, "alice got bob's push");
    let subscribers = gw
        .store
        .subscribers("user/bob/orders")
        .await
        .expect("query");
    assert_eq!(subscribers.len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_connection_holds_at_most_its_cap_of_subscriptions() {
    let gw = TestGateway::start_with(with_policy("*", 2, 30)).await;
    let mut client = gw.connect("carol").await;
    for entity in ["a", "b"] {
        assert_eq!(subscribe(&mut client, entity).await["type"], "Subscribed");
    }
    let refused = subscribe(&mut client, "c").await;
    assert_eq!(refused["code"], "TooManySubscriptions", "{refused}");
    assert_eq!(refused["entityId"], "c");
    send_json(
        &mut client,
        json!({"action": "unsubscribe", "entityId": "a"}),
    )
    .await;
    assert_eq!(next_json(&mut client, 5).await["type"], "Unsubscribed");
    assert_eq!(subscribe(&mut client, "c").await["type"], "Subscribed");
    assert_eq!(publish(&gw, "a").await["delivered"], 0);
    gw.stop().await;
}

/// A token that expires in a second; with no leeway, the connection ends with it.
fn short_lived_token(user: &str) -> String {
    let claims = json!({"exp": now() + 1, "sub": user});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(common::SECRET.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test]
async fn an_expired_connection_gets_no_push_and_is_closed() {
    let gw = TestGateway::start_with(with_policy("*", 200, 0)).await;
    let mut client = connect_with(&gw, &short_lived_token("dan")).await;
    assert_eq!(subscribe(&mut client, "news").await["type"], "Subscribed");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let tally = publish(&gw, "news").await;
    assert_eq!(
        (tally["expired"].as_u64(), tally["delivered"].as_u64()),
        (Some(1), Some(0)),
        "{tally}"
    );
    assert_eq!(close_code(&mut client, 5).await, Some(1000));
    gw.disconnected().await;
    assert!(gw
        .store
        .subscribers("news")
        .await
        .expect("query")
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_frame_from_an_expired_connection_is_answered_token_expired_and_closed() {
    let gw = TestGateway::start_with(with_policy("*", 200, 0)).await;
    let mut client = connect_with(&gw, &short_lived_token("erin")).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    send_json(&mut client, json!({"action": "ping"})).await;
    let frame = next_json(&mut client, 5).await;
    assert_eq!(frame["type"], "Error");
    assert_eq!(frame["code"], "TokenExpired", "{frame}");
    assert_eq!(close_code(&mut client, 5).await, Some(1000));
    gw.stop().await;
}

/// Serves the test key set on 127.0.0.1 until the test ends.
async fn serve_keys() -> String {
    let jwks = std::fs::read_to_string(format!("{TEST_KEYS}/jwks.json")).expect("key set");
    let app = Router::new().route("/jwks", get(move || async move { jwks }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/jwks")
}

fn rs256(kid: &str, key_file: &str, claims: &Value) -> String {
    let pem = std::fs::read(format!("{TEST_KEYS}/{key_file}")).expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&pem).expect("pem"),
    )
    .expect("sign")
}

#[tokio::test]
async fn provider_tokens_connect_with_their_claims_and_test_tokens_can_be_refused() {
    let jwks_url = serve_keys().await;
    let mut config = with_policy("tenant/{org}/*", 200, 30);
    config.authorization.jwt.jwks_url = Some(jwks_url.clone());
    config.authorization.jwt.audience = Some("wspush".into());
    config.authorization.jwt.hs256_enabled = false;
    config.provider_keys = Some(std::sync::Arc::new(
        ProviderKeys::load(
            &wspush_runtime::auth::KeySource::JwksUrl(jwks_url),
            std::sync::Arc::new(wspush_runtime::auth::fetch::HttpFetch::default()),
            Duration::from_secs(60),
        )
        .await
        .expect("keys load"),
    ));
    let gw = TestGateway::start_with(config).await;
    let claims = json!({"exp": now() + 600, "sub": "frank", "aud": "wspush", "org": "acme"});
    let mut client = connect_with(&gw, &rs256("rsa-1", "rsa.pem", &claims)).await;
    assert_eq!(
        subscribe(&mut client, "tenant/acme/board").await["type"],
        "Subscribed"
    );
    assert_eq!(
        subscribe(&mut client, "tenant/other/board").await["code"],
        "Forbidden"
    );

    let refused = [
        rs256("rsa-1", "rsa-other.pem", &claims),
        rs256("unknown", "rsa-other.pem", &claims),
        rs256(
            "rsa-1",
            "rsa.pem",
            &json!({"exp": now() + 600, "sub": "frank", "aud": "other"}),
        ),
        gw.token("frank"),
    ];
    for token in refused {
        let url = format!("{}?access_token={token}", gw.ws_url());
        let Err(error) = connect_raw(&url, None).await else {
            panic!("a refused token connected");
        };
        assert_eq!(refusal_status(&error), Some(401));
    }
    gw.stop().await;
}

/// Both push clients close a connection through `DELETE @connections`, signed as the deployed
/// functions sign it; a second DELETE finds it gone.
#[tokio::test]
async fn both_push_clients_close_a_connection() {
    use wspush_runtime::config::PushClient;
    use wspush_runtime::push::PushOutcome;
    let gw = TestGateway::start().await;
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    let endpoint = format!("{}/production", gw.http());
    for client in [PushClient::SignedHttp, PushClient::Sdk] {
        let mut socket = gw.connect("gina").await;
        let id = common::only_connection(&gw).await;
        let pusher = wspush_runtime::aws::pusher(&sdk, &endpoint, client);
        assert_eq!(
            pusher.delete_connection(&id).await,
            PushOutcome::Delivered,
            "{client:?}"
        );
        assert_eq!(close_code(&mut socket, 5).await, Some(1000), "{client:?}");
        gw.disconnected().await;
        assert_eq!(
            pusher.delete_connection(&id).await,
            PushOutcome::Gone,
            "{client:?}"
        );
    }
    gw.stop().await;
}
